#!/usr/bin/env bash
# Fails on formatting or clang-tidy findings in our code. Usage: scripts/lint.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'include/*.h' 'examples/*.cc' 'bench/*.cc' 2>/dev/null \
                     || find src include examples bench -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror "${files[@]}"
# Sources that include libtorch's headers (c10d, the torch adapter src/collective/torch and its
# users) are left out: clang 14 cannot parse libtorch 1.13's headers in C++20 mode (a
# static_assert in ATen/core/ivalue_inl.h), and the NCCL ones need CUDA.
mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cc$' | grep -v '_test\.cc$' |
                       grep -v -e 'transport/c10d/' -e 'bench/gloo_allreduce_bench\.cc' \
                         -e 'src/collective/torch/' -e 'examples/digits-cpp-distributed/' \
                         -e 'bench/train_step_bench\.cc')
# clang-tidy is slow: run two at a time over the library and CLI sources.
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$BUILD" --quiet 2>/dev/null
echo "lint: ${#files[@]} files clean"
