#!/usr/bin/env bash
# GPU check of the collective runtime's NCCL communicator (src/collective/transport/c10d/
# nccl_communicator.h), for a machine with a CUDA GPU, a CUDA build of PyTorch, CMake and a
# compiler; nothing else of trainyard is built (no sqlite, OpenSSL or MPI needed).
#
#   scripts/gpu_check.sh            # builds into $GPU_CHECK_BUILD (default /tmp/trainyard-gpu-check)
#
# Runs nccl_check with one rank per GPU, 2 ranks when there are 2 GPUs or more, else 1 (NCCL
# refuses two ranks on one device), started with torch.distributed's RANK/WORLD_SIZE/MASTER_*.
# Exits 0 after "gpu_check: SKIP ..." when there is no GPU or torch has no CUDA; otherwise with
# the first failing rank's status. Each rank is bounded by a 300 s timeout.
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
cmake --build "$build" -j "$(nproc)" || exit 1

gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())')
np=1
if [ "$gpus" -ge 2 ]; then np=2; fi
if [ "$np" -eq 1 ]; then
  echo "gpu_check: one GPU: running 1 rank (NCCL refuses two ranks on one device)"
fi
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
for ((r = 0; r < np; r++)); do
  RANK=$r WORLD_SIZE=$np LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    timeout 300 "$build/nccl_check" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid"
  rc=$?
  if [ "$rc" -eq 77 ]; then rc=0; echo "gpu_check: SKIP (nccl_check found no device)"; fi
  if [ "$status" -eq 0 ] && [ "$rc" -ne 0 ]; then status=$rc; fi
done
echo "gpu_check: $np rank(s), exit status $status"
exit "$status"
