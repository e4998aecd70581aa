"""Job files (both forms), inputs, snapshots, git, and the example."""
import json
import os
import subprocess
from pathlib import Path

from conftest import SOURCE_DIR

READER = """
import json, os, sys
os.makedirs("outputs", exist_ok=True)
out = {"argv": sys.argv[1:], "env": os.environ.get("GREETING")}
for a in sys.argv[1:]:
    if os.path.isdir(a):
        out["listing"] = sorted(os.listdir(a))
    elif os.path.isfile(a):
        out["content"] = open(a).read()
json.dump(out, open("outputs/seen.json", "w"))
"""


def seen(ty, run_id):
    out = ty.tmp / ("dl-" + run_id)
    ty.run("download", run_id, "outputs/seen.json", "-o", out, check=0)
    return json.loads((out / "outputs/seen.json").read_text())


def test_estimator_job_file_with_inputs(ty):
    src = ty.project("proj", {"read.py": READER})
    data = ty.project("data", {"a.txt": "A", "b.txt": "B"})
    (src / "job.yaml").write_text(f"""
source_directory: .
entry_script: read.py
experiment_name: inputs-demo
script_params:
  --data: ${{{{inputs.images}}}}
  --verbose: null
  --lr: 0.01
environment_variables:
  GREETING: hello there
inputs:
  images:
    type: uri_folder
    path: {data}
    mode: download
tags:
  team: vision
""")
    proc = ty.run("submit", src / "job.yaml", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    s = seen(ty, run_id)
    assert s["env"] == "hello there"
    assert s["listing"] == ["a.txt", "b.txt"]
    assert s["argv"][0] == "--data"
    assert s["argv"][2:] == ["--verbose", "--lr", "0.01"]
    # A downloaded input is a copy inside the run folder, not the original.
    assert s["argv"][1] != str(data)
    info = ty.show(run_id)
    assert info["experiment"] == "inputs-demo"
    assert info["tags"] == {"team": "vision"}


def test_command_job_file(ty):
    src = ty.project("proj", {"read.py": READER})
    data = ty.project("data", {"f.txt": "contents"})
    (src / "job.yaml").write_text(f"""
code: .
command: python read.py --file ${{{{inputs.f}}}} --n ${{{{inputs.n}}}} --msg "two words"
inputs:
  f:
    type: uri_file
    path: {data / 'f.txt'}
  n: 3
environment_variables:
  GREETING: hi
limits:
  timeout: 60
""")
    proc = ty.run("submit", src / "job.yaml", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    s = seen(ty, run_id)
    assert s["argv"] == ["--file", str(data / "f.txt"), "--n", "3", "--msg", "two words"]
    assert s["content"] == "contents"
    assert ty.show(run_id)["spec"]["limits"]["timeout"] == 60


def test_json_job_file_and_cli_input(ty):
    src = ty.project("proj", {"read.py": READER})
    data = ty.project("data", {"x.txt": "X"})
    (src / "job.json").write_text(json.dumps({
        "source_directory": ".", "entry_script": "read.py",
        "script_params": {"--data": "${{inputs.d}}"}}))
    proc = ty.run("submit", src / "job.json", "--input", f"d={data}", "--wait", check=0)
    s = seen(ty, proc.stderr.strip().splitlines()[0])
    assert s["listing"] == ["x.txt"]


def test_snapshot_ignores_and_restores(ty):
    src = ty.project("proj", {
        "train.py": "print('ok')\n",
        ".gitignore": "data/\n*.ckpt\n",
        "data/huge.bin": "x" * 1000,
        "model.ckpt": "weights",
        "lib/util.py": "X = 1\n",
    })
    run_id = ty.submit("--source", src, "--entry", "train.py")
    ty.run("wait", run_id, check=0)
    info = ty.show(run_id)
    assert info["snapshot"]["files"] == 3  # train.py, .gitignore, lib/util.py
    dest = ty.tmp / "restored"
    ty.run("snapshot", "restore", run_id, dest, check=0)
    restored = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert restored == [".gitignore", "lib/util.py", "train.py"]
    # .trainyardignore wins over .gitignore.
    (src / ".trainyardignore").write_text("lib/\n")
    run2 = ty.submit("--source", src, "--entry", "train.py")
    ty.run("wait", run2, check=0)
    assert ty.show(run2)["snapshot"]["files"] == 5  # all but lib/util.py


def test_git_commit_and_dirty_flag_are_recorded(ty):
    src = ty.project("repo", {"train.py": "print('ok')\n"})
    git = ["git", "-C", str(src), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "init"], check=True)
    head = subprocess.run(git[:3] + ["rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    run_id = ty.submit("--source", src, "--entry", "train.py")
    ty.run("wait", run_id, check=0)
    snap = ty.show(run_id)["snapshot"]
    assert snap["git_commit"] == head and snap["git_dirty"] is False
    (src / "train.py").write_text("print('changed')\n")
    run2 = ty.submit("--source", src, "--entry", "train.py")
    ty.run("wait", run2, check=0)
    assert ty.show(run2)["snapshot"]["git_dirty"] is True


def test_digits_example_trains_to_95_percent(ty):
    example = SOURCE_DIR / "examples" / "digits"
    proc = ty.run("submit", example / "job.yaml", "--stream", check=0, timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]
    assert "test_acc" in proc.stdout
    out = ty.tmp / "dl"
    ty.run("download", run_id, "outputs", "-o", out, check=0)
    metrics = json.loads((out / "outputs" / "metrics.json").read_text())
    acc = metrics.get("test_accuracy")
    assert acc is not None and acc >= 0.95, metrics
    assert (out / "outputs" / "model.pt").stat().st_size > 0


def test_doctor_reports_every_check(ty):
    checks = ty.json("doctor")
    names = [c["name"] for c in checks]
    for n in ("interpreter", "python", "torch", "blas", "threads", "openmpi", "slurm", "gpu",
              "workspace"):
        assert n in names
    torch = next(c for c in checks if c["name"] == "torch")
    assert torch["level"] in ("ok", "info"), torch
    bad = ty.run("doctor", "--python", "/no/such/python")
    assert bad.returncode == 1
    assert "/no/such/python" in bad.stdout
