#!/usr/bin/env bash
# Command (1): install what is needed, build, and run the example training job (8x8 digits, a
# small PyTorch MLP) on the embedded default workspace, streaming its output.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
./build/src/cli/trainyard doctor || true
./build/src/cli/trainyard submit examples/digits/job.yaml --stream
