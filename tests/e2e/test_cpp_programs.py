"""C++ (libtorch) entry programs: trainyard builds them with CMake before the ranks start.

One workspace is shared by the whole module, so that the libtorch example is compiled once and
the cache behaviour (hit, incremental rebuild) is observed on real builds. What was built is
asserted from the run's recorded build properties (build_hash, build_cache, build_incremental),
never from timing.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import SOURCE_DIR, Trainyard, wait_for_leftovers

EXAMPLE = SOURCE_DIR / "examples" / "digits-cpp"
PYTHON = "/usr/bin/python3"

# A small program: no torch headers (they take ~15 s to compile), but linked like every C++
# entry (libtorch + trainyard::client). Prints its argv, logs a metric, writes an output.
HELLO = r"""
#include <cstdio>
#include <fstream>
#include "trainyard/trainyard.h"
#include "greeting.h"

int main(int argc, char** argv) {
  std::printf("%s\n", kGreeting);
  for (int i = 1; i < argc; ++i) std::printf("arg[%d]=<%s>\n", i, argv[i]);
  trainyard::Run& run = trainyard::Run::Context();
  (void)run.Log("answer", kAnswer);
  std::ofstream("outputs/answer.txt") << kAnswer << "\n";
  return run.Flush().ok() ? 0 : 1;
}
"""


def greeting(text, answer):
    return (f'#pragma once\nconstexpr const char* kGreeting = "{text}";\n'
            f'constexpr int kAnswer = {answer};\n')


@pytest.fixture(scope="module")
def ty(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cpp")
    ws = tmp / "workspace"
    t = Trainyard(ws, tmp)
    yield t
    left = wait_for_leftovers(ws)
    assert not left, f"processes left behind: {left}"


def props(info):
    return info["properties"]


def wait(ty, run_id, timeout=600):
    ty.run("wait", run_id, timeout=timeout + 10)
    return ty.show(run_id)


def test_digits_cpp_builds_trains_and_saves_a_torchscript_model(ty):
    run_id = ty.submit(EXAMPLE / "job.yaml", "--set", 'script_params["--epochs"]=15')
    info = wait(ty, run_id)
    assert info["status"] == "Completed", info["error"] + ty.run("logs", run_id).stdout
    p = props(info)
    assert p["build_kind"] == "cpp"
    assert p["build_cache"] == "miss"
    assert len(p["build_hash"]) == 64
    assert info["argv"][0].endswith("/.trainyard/bin/train")
    assert info["argv"][1:] == ["--epochs", "15", "--lr", "0.01", "--batch-size", "64"]
    # Metrics logged through trainyard::Run::Context().
    assert info["metrics"]["test_accuracy"]["last"] >= 0.96
    assert info["metrics"]["loss"]["count"] == 15
    # The build's output is kept with the run's logs; the model is in outputs/.
    files = {f["path"] for f in ty.json("files", run_id)}
    assert {"outputs/model.pt", "outputs/metrics.json", "logs/build.log"} <= files
    shown = ty.run("show", run_id, check=0).stdout
    assert "build: cpp " + p["build_hash"][:12] + ", cache miss" in shown
    # Python's torch.jit.load runs the C++-trained model, as accurately.
    got = ty.tmp / "got"
    ty.run("download", run_id, "outputs", "-o", got, check=0)
    model = next(got.rglob("model.pt"))
    check = subprocess.run([PYTHON, "-c", f"""
import gzip, torch
rows = [[float(v) for v in l.split(',')] for l in gzip.open(
    '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz', 'rt') if l.strip()]
d = torch.tensor(rows); x, y = d[:, :64] / 16.0, d[:, 64].long()
m = torch.jit.load('{model}')
print((m(x).argmax(1) == y).float().mean().item())
"""], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert float(check.stdout) >= 0.96


def test_second_submit_is_a_cache_hit(ty):
    first = [r for r in ty.json("list", "--experiment", "digits-cpp")
             if r["status"] == "Completed"]
    assert first, "needs the digits run of the previous test"
    first_hash = props(ty.show(first[0]["id"]))["build_hash"]
    builds_before = sorted(p.name for p in (ty.workspace / "builds").iterdir())
    run_id = ty.submit(EXAMPLE / "job.yaml", "--set", 'script_params["--epochs"]=2')
    info = wait(ty, run_id)
    assert info["status"] == "Completed", info["error"]
    assert props(info)["build_cache"] == "hit"
    assert props(info)["build_hash"] == first_hash
    assert sorted(p.name for p in (ty.workspace / "builds").iterdir()) == builds_before
    log = (ty.workspace / "runs" / run_id / "logs" / "build.log").read_text()
    assert "reusing C++ build " + first_hash in log
    assert "Building CXX" not in log


def test_editing_a_source_file_rebuilds_incrementally(ty):
    src = ty.project("hello", {"hello.cpp": HELLO, "greeting.h": greeting("hello one", 1)})
    first = wait(ty, ty.submit("--source", src, "--entry", "hello.cpp", "--experiment", "hello"))
    assert first["status"] == "Completed", first["error"]
    assert props(first)["build_cache"] == "miss"
    assert props(first)["build_incremental"] == "false"
    assert "hello one" in ty.run("logs", first["id"]).stdout

    (src / "greeting.h").write_text(greeting("hello two", 2))
    second = wait(ty, ty.submit("--source", src, "--entry", "hello.cpp", "--experiment", "hello"))
    assert second["status"] == "Completed", second["error"]
    p = props(second)
    assert p["build_cache"] == "miss" and p["build_hash"] != props(first)["build_hash"]
    assert p["build_incremental"] == "true"
    assert "hello two" in ty.run("logs", second["id"]).stdout
    assert second["metrics"]["answer"]["last"] == 2
    # The incremental build recompiled the one object and did not configure again.
    log = (ty.workspace / "runs" / second["id"] / "logs" / "build.log").read_text()
    assert "incremental build in" in log and "(1 files changed)" in log
    assert "-S " not in log  # no cmake configure step

    # The earlier build is still cached: going back is a hit.
    (src / "greeting.h").write_text(greeting("hello one", 1))
    third = wait(ty, ty.submit("--source", src, "--entry", "hello.cpp", "--experiment", "hello"))
    assert props(third)["build_cache"] == "hit"
    assert props(third)["build_hash"] == props(first)["build_hash"]


def test_arguments_reach_the_program_as_argv(ty):
    src = ty.project("hello", {})  # the folder of the previous test, as it was left
    run_id = ty.submit("--source", src, "--entry", "hello.cpp", "--experiment", "hello",
                       "--arg", "; rm -rf ~", "--", "two words")
    info = wait(ty, run_id)
    assert info["status"] == "Completed", info["error"]
    out = ty.run("logs", run_id).stdout
    assert "arg[1]=<; rm -rf ~>" in out and "arg[2]=<two words>" in out


def test_a_compile_error_fails_the_run_in_preparing_with_the_compiler_message(ty):
    src = ty.project("broken", {
        "broken.cpp": ('#include "trainyard/trainyard.h"\n'
                       'int main() { return undeclared_thing; }\n')})
    run_id = ty.submit("--source", src, "--entry", "broken.cpp", "--experiment", "broken")
    info = wait(ty, run_id)
    assert info["status"] == "Failed"
    assert info["started_at"] is None  # never left Preparing
    assert info["error"].startswith("preparing the run failed: building the C++ program broken")
    assert "broken.cpp:2:" in info["error"] and "undeclared_thing" in info["error"]
    assert "error:" in info["error"]
    shown = ty.run("show", run_id).stdout
    assert "undeclared_thing" in shown
    log = (ty.workspace / "runs" / run_id / "logs" / "build.log").read_text()
    assert "undeclared_thing" in log and "build failed" in log
    # A failed build leaves no cached program behind.
    builds = [p for p in (ty.workspace / "builds").iterdir()
              if p.is_dir() and p.name != "trees"]
    for b in builds:
        assert (b / "trainyard-build.json").exists(), b


def test_concurrent_runs_share_one_build(ty):
    ty.run("target", "add", "wide", "--type", "local", "--max-concurrent-runs", "3", check=0)
    src = ty.project("shared", {"hello.cpp": HELLO, "greeting.h": greeting("shared", 7)})
    ids = [ty.submit("--source", src, "--entry", "hello.cpp", "--experiment", "shared",
                     "--target", "wide") for _ in range(3)]
    infos = [wait(ty, i) for i in ids]
    assert all(i["status"] == "Completed" for i in infos), [i["error"] for i in infos]
    assert len({props(i)["build_hash"] for i in infos}) == 1
    assert sorted(props(i)["build_cache"] for i in infos) == ["hit", "hit", "miss"]
    logs = [(ty.workspace / "runs" / i / "logs" / "build.log").read_text() for i in ids]
    assert sum("Building CXX" in log for log in logs) == 1


def test_bad_target_name_and_missing_file_are_refused_at_submit(ty):
    before = len(ty.json("list"))
    proc = ty.run("submit", "--source", EXAMPLE, "--entry", "trian")
    assert proc.returncode == 2
    assert 'entry_script: "trian" is neither a file in' in proc.stderr
    assert "add_executable targets: train" in proc.stderr
    assert 'did you mean "train"?' in proc.stderr
    proc = ty.run("submit", "--source", EXAMPLE, "--entry", "nope.cpp")
    assert proc.returncode == 2 and '"nope.cpp" does not exist' in proc.stderr
    assert len(ty.json("list")) == before


def test_missing_cmake_is_refused_at_submit(ty, tmp_path):
    src = ty.project("hello", {})
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    before = len(ty.json("list"))
    proc = ty.run("submit", "--source", src, "--entry", "hello.cpp",
                  env={"PATH": str(empty_bin)})
    assert proc.returncode != 0
    assert "cmake is not on PATH" in proc.stderr
    assert len(ty.json("list")) == before


def test_dry_run_shows_the_built_program(ty):
    proc = ty.run("submit", EXAMPLE / "job.yaml", "--dry-run", check=0)
    assert "/.trainyard/bin/train --epochs 15" in proc.stdout
    assert "C++ program train" in proc.stdout
