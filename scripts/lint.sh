#!/usr/bin/env bash
# Fails on formatting, clang-tidy or clang -Wthread-safety findings in our code.
# Usage: scripts/lint.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'include/*.h' 'examples/*.cc' 'bench/*.cc' 2>/dev/null \
                     || find src include examples bench -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror "${files[@]}"
# Sources that include libtorch's headers (c10d, the torch adapter src/collective/torch and its
# users, serving's *_torch.cc) are left out: clang 14 cannot parse libtorch 1.13's headers in C++20 mode (a
# static_assert in ATen/core/ivalue_inl.h), and the NCCL ones need CUDA.
mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cc$' | grep -v '_test\.cc$' |
                       grep -v -e 'transport/c10d/' -e 'bench/gloo_allreduce_bench\.cc' \
                         -e 'src/collective/torch/' -e 'examples/digits-cpp-distributed/' \
                         -e 'bench/train_step_bench\.cc' -e 'bench/serve_forward\.cc' \
                         -e '_torch\.cc$')
# clang-tidy is slow: run two at a time over the library and CLI sources.
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$BUILD" --quiet 2>/dev/null
# Thread-safety analysis: clang checks the TY_GUARDED_BY / TY_REQUIRES annotations
# (common/thread_annotations.h) of every source that includes an annotated header, directly or not.
# Only this warning is enabled: the rest is GCC's job in the build (-Werror there).
python3 - "$BUILD" <<'PY'
import json, os, re, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

build = sys.argv[1]
files = subprocess.run(["git", "ls-files", "src", "include", "python", "examples", "bench"],
                       capture_output=True, text=True, check=True).stdout.split()
files = [f for f in files if f.endswith((".h", ".cc"))]
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
texts = {f: open(f, encoding="utf-8", errors="replace").read() for f in files}
includes = {f: set(include.findall(t)) for f, t in texts.items()}
# Annotated headers, then everything that includes one of them, to a fixed point. Includes are
# written relative to src/ or include/ ("common/mutex.h", "trainyard/dist.h").
def key(f):
    for root in ("src/", "include/"):
        if f.startswith(root):
            return f[len(root):]
    return f
marked = {f for f, t in texts.items() if "TY_GUARDED_BY" in t or "TY_REQUIRES" in t or
          "common/mutex.h" in includes[f] or f == "src/common/mutex.h"}
while True:
    keys = {key(f) for f in marked}
    more = {f for f in files if f not in marked and includes[f] & keys}
    if not more:
        break
    marked |= more
commands = json.load(open(os.path.join(build, "compile_commands.json")))
root = os.getcwd()
jobs = []
for entry in commands:
    path = os.path.relpath(os.path.join(entry["directory"], entry["file"]), root)
    if path not in marked or path.startswith(("src/collective/torch/", "src/collective/transport/c10d/")) \
            or path.endswith(("_torch.cc", "_torch_test.cc", "bench/serve_forward.cc")):
        continue  # clang 14 cannot parse libtorch 1.13's headers in C++20 mode (see above)
    args = shlex.split(entry["command"])[1:]
    keep = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c"):
            skip = a == "-o"
            continue
        if a.startswith("-W") or a.startswith("-O") or a == "-g":
            continue
        keep.append(a)
    jobs.append((path, ["clang++", *keep, "-fsyntax-only", "-Wno-everything", "-Wthread-safety",
                        "-Werror"], entry["directory"]))
def check(job):
    path, argv, cwd = job
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    return path, proc.returncode, proc.stdout + proc.stderr
failed = 0
with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    for path, rc, out in pool.map(check, jobs):
        if rc != 0:
            failed += 1
            sys.stderr.write(out)
if failed:
    sys.exit(f"lint: -Wthread-safety: {failed} of {len(jobs)} annotated sources fail")
print(f"lint: -Wthread-safety: {len(jobs)} annotated sources clean")
PY
echo "lint: ${#files[@]} files clean"
