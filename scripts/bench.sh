#!/usr/bin/env bash
# Builds (RelWithDebInfo) and runs every benchmark; prints markdown tables for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" >/dev/null
echo "machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)"
"$BUILD/bench/submit_bench" 10
echo
"$BUILD/bench/snapshot_bench"
echo
"$BUILD/bench/tracking_bench" 1000000
echo
PYTHONPATH="$BUILD/python" /usr/bin/python3 bench/run_log_bench.py 1000000
echo
/usr/bin/python3 bench/launch_bench.py "$BUILD" 5
echo
/usr/bin/python3 bench/env_bench.py "$BUILD" 5
echo
/usr/bin/python3 bench/sdk_bench.py "$BUILD" 10
echo
/usr/bin/python3 bench/sweep_bench.py "$BUILD" all   # about 20 minutes (docs/benchmarks.md, Sweeps)
echo
/usr/bin/python3 bench/serve_bench.py "$BUILD"       # about 6 minutes (docs/benchmarks.md, Serving)
echo
"$BUILD/bench/server_follow" 200 20000 2000   # about 20 s (docs/benchmarks.md, Workspace server)
echo
"$BUILD/bench/server_bench"                    # about 2 minutes (docs/benchmarks.md, Workspace server)
echo
# The web UI in Debian's chromium (playwright-core from web/node_modules): a run page of 20 charts x
# 100,000 points, and the runs table at 10,000 runs.
TRAINYARD_BIN="$BUILD/src/cli/trainyard" WEB_FILL="$BUILD/bench/web_fill" node bench/web_charts.mjs
echo
TRAINYARD_BIN="$BUILD/src/cli/trainyard" WEB_FILL="$BUILD/bench/web_fill" node bench/web_charts_table.mjs
if [[ -x "$BUILD/bench/allreduce_bench" ]]; then
  echo
  root=(); [[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)
  timeout 600 mpirun "${root[@]}" -np 2 --bind-to none "$BUILD/bench/allreduce_bench"
fi
