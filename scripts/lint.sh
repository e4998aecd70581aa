#!/usr/bin/env bash
# Fails on formatting or clang-tidy findings in our code. Usage: scripts/lint.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'include/*.h' 'examples/*.cc' 'bench/*.cc' 2>/dev/null \
                     || find src include examples bench -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror "${files[@]}"
mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cc$' | grep -v '_test\.cc$')
# clang-tidy is slow: run two at a time over the library and CLI sources.
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$BUILD" --quiet 2>/dev/null
echo "lint: ${#files[@]} files clean"
