#!/usr/bin/env bash
# Installs every Debian package trainyard needs, idempotently, then builds it.
# Usage: scripts/setup.sh [--no-build]     (as root on Debian 12)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ccache
  clang-format clang-tidy clang libclang-rt-14-dev
  libgtest-dev libgmock-dev
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libfmt-dev
  libsqlite3-dev sqlite3 libssl-dev libcpp-httplib-dev
  libcurl4-openssl-dev  # web inputs (runner/download.cc)
  python3 python3-dev python3-torch libtorch-dev libgloo-dev zlib1g-dev pybind11-dev python3-pybind11
  python3-sklearn python3-numpy python3-matplotlib python3-venv python3-pip python3-setuptools python3-wheel python3-pytest
  # What the hosted PyTorch estimator's image holds that Debian ships: torchvision (and PIL, its
  # dependency), and what Horovod's own examples/pytorch scripts import besides (filelock,
  # distutils' LooseVersion).
  python3-torchvision python3-pil python3-filelock python3-distutils
  python3-flask  # the serving benchmark's reference server (bench/serve_ref_flask.py)
  chromium  # the web UI's browser tests (tests/web/) and chart benchmark (bench/web_charts.mjs)
  libopenblas0-pthread
  openmpi-bin libopenmpi-dev
  procps psmisc iproute2 util-linux
  slurmctld slurmd slurm-client
  # Command jobs in container images (docs/jobs.md, "Images"): podman's storage unpacks an image,
  # bubblewrap runs the ranks on it; the tests build their image offline from the static busybox
  # and bash.
  podman bubblewrap busybox-static bash-static
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's PyTorch links libblas.so.3; make sure the optimized OpenBLAS is the selected one.
arch_blas=""
for alt in /etc/alternatives/libblas.so.3-*; do
  [[ -e $alt ]] && { arch_blas=${alt##*/}; break; }
done
if [[ -n "$arch_blas" ]]; then
  cur=$(readlink -f "/etc/alternatives/$arch_blas")
  if [[ "$cur" != *openblas* && $(id -u) -eq 0 ]]; then
    cand=$(update-alternatives --list "$arch_blas" | grep openblas | head -n1 || true)
    [[ -n "$cand" ]] && update-alternatives --set "$arch_blas" "$cand"
  fi
fi

# The web UI (web/, docs/web.md) is built with npm: Debian's nodejs and npm unless an npm is
# already installed, then the locked packages when web/node_modules is missing or older than
# package-lock.json. Without them the server is built with a page saying the UI is missing.
if ! command -v npm >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "setup: npm is missing (apt-get install nodejs npm); the web UI will not be built" >&2
  fi
fi
if command -v npm >/dev/null &&
  { [[ ! -d web/node_modules ]] || [[ web/package-lock.json -nt web/node_modules ]]; }; then
  if (cd web && npm ci --no-audit --no-fund); then
    touch web/node_modules
  else
    echo "setup: npm ci failed in web/; the web UI will not be built" >&2
    rm -rf web/node_modules
  fi
fi

if [[ "${1:-}" != "--no-build" ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build
fi
