#!/usr/bin/env bash
# GPU tests of the collective runtime's NCCL path (tests/gpu), for a machine with a CUDA GPU, a CUDA
# build of PyTorch, CMake, a compiler, GoogleTest and OpenSSL. It configures this CMake project
# with TRAINYARD_COLLECTIVE_ONLY=ON (src/common, src/collective with its torch adapter, tests/gpu:
# no sqlite, HTTP, YAML or CLI dependencies) against that torch, builds the GPU test programs and
# runs them with `ctest -L gpu`:
#
#   gpu.nccl.1, gpu.nccl.2   the NCCL communicator alone (nccl_communicator_test): one rank, and
#                            two ranks with one GPU each (skipped with fewer than 2 GPUs: NCCL
#                            refuses two ranks on one device)
#   gpu.RuntimeDevice.*      Runtime::Init() with one rank (the NCCL device communicator attached
#                            by CreateWorld), CUDA and CPU tensors through the runtime's operations
#   gpu.DistCuda.*           trainyard::dist on CUDA tensors and a CUDA module
#
#   scripts/gpu_check.sh     # builds into $GPU_CHECK_BUILD (default /tmp/trainyard-gpu-check)
#
# Exits 0 after "gpu_check: SKIP ..." when torch has no CUDA or sees no GPU; otherwise with
# ctest's status (a test that cannot run here is reported as skipped, with its reason).
# Warnings are shown but not fatal (-DTRAINYARD_WERROR=OFF): a new compiler's warning must not
# cost a borrowed GPU's time.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
build=${GPU_CHECK_BUILD:-/tmp/trainyard-gpu-check}

if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_check: SKIP: no CUDA device, or $py's torch has no CUDA"
  exit 0
fi
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
# c10d's NCCL header includes <nccl.h>; pip wheels keep it in their own folder (nvidia/nccl).
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
     "$("$py" -c 'import torch; print(torch.cuda.device_count())') GPU(s)," \
     "nccl.h in ${nccl_include:-the system}"
abi_flags=()
if [ "$("$py" -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')" = 0 ]; then
  # Everything must match torch's pre-C++11 string ABI (torch < 2.7 wheels); GoogleTest too.
  echo "gpu_check: torch uses the pre-C++11 ABI: building with -D_GLIBCXX_USE_CXX11_ABI=0"
  abi_flags=(-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=0)
fi
generator=()
keep_going=(-k)
if command -v ninja >/dev/null; then generator=(-G Ninja); keep_going=(-k 0); fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRAINYARD_COLLECTIVE_ONLY=ON -DTRAINYARD_WERROR=OFF -DCMAKE_PREFIX_PATH="$prefix" \
  ${nccl_include:+-DNCCL_INCLUDE_DIR="$nccl_include"} "${abi_flags[@]}" || exit 1
# Keep going past a failing target: the other programs' tests still run (ctest reports the missing
# one as failed).
build_status=0
cmake --build "$build" -j "$(nproc)" \
  --target nccl_communicator_test runtime_device_test dist_cuda_test -- "${keep_going[@]}" ||
  build_status=1

cd "$build" || exit 1
env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u OMPI_COMM_WORLD_SIZE \
  ctest -L gpu --output-on-failure --timeout 300
status=$?
if [ "$status" -eq 0 ] && [ "$build_status" -ne 0 ]; then status=1; fi
echo "gpu_check: build status $build_status, ctest status $status"
exit "$status"
