#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/: the job-file reader and the --set parser) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in their own build folder, then runs each for a
# bounded time from its checked-in seed corpus (fuzz/corpus/<target>). Fails on a crash, a leak,
# undefined behaviour, an input slower than FUZZ_INPUT_TIMEOUT or larger than 2 GB of memory;
# the input that did it is left in <build>/fuzz/ (crash-*, timeout-*, oom-*), to be added to
# the corpus once fixed. New inputs found go to a temporary folder (the corpus stays as checked in).
# Usage: scripts/fuzz.sh [TARGET...]      (job_reader, set_parser; default both)
#   FUZZ_SECONDS (60 per target), FUZZ_BUILD_DIR (build-fuzz), FUZZ_INPUT_TIMEOUT (25 s)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
targets=("$@")
((${#targets[@]})) || targets=(job_reader set_parser)

CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRAINYARD_FUZZ=ON >/dev/null
cmake --build "$BUILD" --target "${targets[@]/#/fuzz_}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  echo "fuzz: $t for ${SECONDS_PER_TARGET} s"
  "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -timeout="${FUZZ_INPUT_TIMEOUT:-25}" \
    -rss_limit_mb=2048 -max_len=65536 -dict=fuzz/job.dict -print_final_stats=1 \
    -artifact_prefix="$BUILD/fuzz/" "$work/$t" "fuzz/corpus/$t"
done
