#!/usr/bin/env bash
# Command (2): install what is needed, build, lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
BUILD=${BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
# The SDK on /usr/bin/python3's path, as a user gets it (a trainyard.pth; nothing when the build
# has no Python SDK); the tests that need it check it.
scripts/install_python.sh "$BUILD"
scripts/lint.sh "$BUILD"
# The fuzz targets (ASan + UBSan, own build folder), 60 s each from the checked-in corpus.
FUZZ_SECONDS=${FUZZ_SECONDS:-60} scripts/fuzz.sh
cd "$BUILD"
# Unit tests first (fast), then the end-to-end tests; ctest prints the closing summary.
ctest --output-on-failure -j"$(nproc)" --timeout 900
