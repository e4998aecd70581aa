#!/usr/bin/env bash
# Command (1): install what is needed, build what the example needs (the trainyard command and
# its Python SDK, nothing else), and run the example training job (8x8 digits, a small PyTorch
# MLP) on the default workspace, streaming its output. The rest of the project (tests,
# benchmarks, GPU checks) builds with: cmake --build build
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
# trainyard: the command (also the rank shim, `trainyard rank-exec`); trainyard_core: the
# `trainyard` Python package's extension, which training scripts import to log metrics;
# trainyard_sdk: the SDK's binding of the C++ API (Workspace, Experiment, Run from Python).
# Measured before the SDK: 78 of the 159 compilations, 864 CPU seconds without ccache (the whole
# project: about 15 minutes).
echo "example: building the trainyard command and its Python SDK" \
     "(first build: about 8 minutes on 2 cores; after that, seconds)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target trainyard trainyard_core trainyard_sdk
# `import trainyard` and `import azureml.core` in /usr/bin/python3 (a trainyard.pth naming the
# build's folders; nothing when the build has no Python SDK).
scripts/install_python.sh build
./build/src/cli/trainyard doctor || true
./build/src/cli/trainyard submit examples/digits/job.yaml --stream
