#!/usr/bin/env bash
# GPU check of the collective runtime's NCCL path (src/collective/transport/c10d/
# nccl_communicator.h and the runtime's routing of CUDA tensors), for a machine with a CUDA GPU, a
# CUDA build of PyTorch, CMake and a compiler; nothing else of trainyard is built (no sqlite,
# OpenSSL, MPI or Gloo needed).
#
#   scripts/gpu_check.sh            # builds into $GPU_CHECK_BUILD (default /tmp/trainyard-gpu-check)
#
# 1. nccl_check: the communicator alone, with one rank per GPU, 2 ranks when there are 2 GPUs or
#    more, else 1 (NCCL refuses two ranks on one device), started with torch.distributed's
#    RANK/WORLD_SIZE/MASTER_*.
# 2. runtime_gpu_check: Runtime::Init() with one rank (the NCCL device communicator attached by
#    CreateWorld), CUDA and CPU tensors through the runtime's operations.
# Exits 0 after "gpu_check: SKIP ..." when there is no GPU or torch has no CUDA; otherwise with
# the first failure's status. Each program is bounded by a 300 s timeout.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
build=${GPU_CHECK_BUILD:-/tmp/trainyard-gpu-check}

if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_check: SKIP: no CUDA device, or $py's torch has no CUDA"
  exit 0
fi
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
nccl_include=$("$py" - <<'PY'
import glob, os
try:
    import nvidia
    dirs = list(nvidia.__path__)
except ImportError:
    dirs = []
hits = [h for d in dirs for h in glob.glob(os.path.join(d, "**", "nccl.h"), recursive=True)]
print(os.path.dirname(hits[0]) if hits else "")
PY
)
echo "gpu_check: torch $("$py" -c 'import torch; print(torch.__version__)'), prefix $prefix," \
     "nccl.h in ${nccl_include:-the system}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root/src/collective/transport/c10d/gpu_check" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" \
  ${nccl_include:+-DNCCL_INCLUDE_DIR="$nccl_include"} || exit 1
# Keep going past a failing target: the other check still runs (the exit status reports it).
build_status=0
cmake --build "$build" -j "$(nproc)" -- -k 0 || build_status=1
if [ ! -x "$build/nccl_check" ] && [ ! -x "$build/runtime_gpu_check" ] && [ ! -x "$build/dist_gpu_check" ]; then exit 1; fi

gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())')
np=1
if [ "$gpus" -ge 2 ]; then np=2; fi
if [ "$np" -eq 1 ]; then
  echo "gpu_check: one GPU: running 1 rank (NCCL refuses two ranks on one device)"
fi
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
status=0
if [ -x "$build/nccl_check" ]; then
  for ((r = 0; r < np; r++)); do
    RANK=$r WORLD_SIZE=$np LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      timeout 300 "$build/nccl_check" &
    pids+=($!)
  done
else
  status=1
fi
for pid in "${pids[@]}"; do
  wait "$pid"
  rc=$?
  if [ "$rc" -eq 77 ]; then rc=0; echo "gpu_check: SKIP (nccl_check found no device)"; fi
  if [ "$status" -eq 0 ] && [ "$rc" -ne 0 ]; then status=$rc; fi
done
echo "gpu_check: nccl_check: $np rank(s), exit status $status"

rc=1
if [ -x "$build/runtime_gpu_check" ]; then
  env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u OMPI_COMM_WORLD_SIZE timeout 300 \
    "$build/runtime_gpu_check"
  rc=$?
fi
if [ "$rc" -eq 77 ]; then rc=0; echo "gpu_check: SKIP (runtime_gpu_check)"; fi
echo "gpu_check: runtime_gpu_check: exit status $rc"
if [ "$status" -eq 0 ] && [ "$rc" -ne 0 ]; then status=$rc; fi
rc=1
if [ -x "$build/dist_gpu_check" ]; then
  env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u OMPI_COMM_WORLD_SIZE timeout 300 \
    "$build/dist_gpu_check"
  rc=$?
fi
if [ "$rc" -eq 77 ]; then rc=0; echo "gpu_check: SKIP (dist_gpu_check)"; fi
echo "gpu_check: dist_gpu_check: exit status $rc"
if [ "$status" -eq 0 ] && [ "$rc" -ne 0 ]; then status=$rc; fi
if [ "$status" -eq 0 ] && [ "$build_status" -ne 0 ]; then status=1; fi
echo "gpu_check: build status $build_status, exit status $status"
exit "$status"
