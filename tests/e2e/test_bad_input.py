"""Every bad input is refused at submit time, before anything runs, naming the field."""
import os
from pathlib import Path

import pytest


def refuse(ty, *args, expect, code=2):
    proc = ty.run("submit", *args, check=code)
    for e in ([expect] if isinstance(expect, str) else expect):
        assert e in proc.stderr, f"expected {e!r} in:\n{proc.stderr}"
    # Nothing was recorded.
    assert ty.json("list") == []
    return proc.stderr


@pytest.fixture
def proj(ty):
    return ty.project("proj", {"train.py": "print('hi')\n"})


def job(ty, text, name="job.yaml"):
    p = ty.tmp / "proj" / name
    p.write_text(text)
    return p


def test_missing_source_folder(ty):
    refuse(ty, "--source", ty.tmp / "nope", "--entry", "train.py", expect="source_directory")


def test_missing_entry_script(ty, proj):
    refuse(ty, "--source", proj, "--entry", "nope.py", expect=["entry_script", "nope.py"])


def test_entry_outside_source(ty, proj):
    (ty.tmp / "x.py").write_text("print(1)\n")
    refuse(ty, "--source", proj, "--entry", "../x.py", expect="entry_script")
    refuse(ty, "--source", proj, "--entry", str(ty.tmp / "x.py"), expect="entry_script")


def test_symlink_escaping_the_source(ty, proj):
    (ty.tmp / "outside.py").write_text("print(1)\n")
    os.symlink(ty.tmp / "outside.py", proj / "link.py")
    refuse(ty, "--source", proj, "--entry", "link.py", expect="entry_script")


def test_wrong_types(ty, proj):
    f = job(ty, "source_directory: .\nentry_script: train.py\nnode_count: two\n")
    refuse(ty, f, expect=["node_count", "job.yaml:3"])
    f = job(ty, "source_directory: .\nentry_script: train.py\nscript_params:\n  --lr: [1, 2]\n")
    refuse(ty, f, expect='script_params["--lr"]')


def test_zero_and_negative_counts(ty, proj):
    refuse(ty, "--source", proj, "--entry", "train.py", "--set", "process_count_per_node=0",
           expect="process_count_per_node")
    f = job(ty, "code: .\ncommand: python train.py\nresources:\n  instance_count: -1\n")
    refuse(ty, f, expect="resources.instance_count")


def test_unknown_field_gets_a_suggestion(ty, proj):
    f = job(ty, "source_directory: .\nentry_script: train.py\nnode_cuont: 2\n")
    refuse(ty, f, expect='did you mean "node_count"')


def test_yaml_syntax_error_has_line_and_column(ty, proj):
    f = job(ty, "source_directory: .\nentry_script: train.py\nscript_params: {--lr: 0.1\n")
    err = refuse(ty, f, expect="job.yaml:")
    assert "syntax" in err.lower()


def test_unknown_target_and_backend(ty, proj):
    refuse(ty, "--source", proj, "--entry", "train.py", "--target", "lcoal",
           expect=['unknown target "lcoal"', 'did you mean "local"'])
    refuse(ty, "--source", proj, "--entry", "train.py", "--set", "distributed_backend=horovodx",
           expect="distributed_backend")


def test_several_processes_need_a_backend(ty, proj):
    refuse(ty, "--source", proj, "--entry", "train.py", "--set", "node_count=2",
           expect="distributed_backend")


def test_gpu_on_a_target_without_gpus(ty, proj):
    ty.run("target", "add", "cpu-only", "--type", "local", "-o", "gpus=1", check=0)
    ty.run("target", "add", "nogpu", "--type", "local", check=0)
    # A local target without the gpus option detects them; this machine may have none.
    if not Path("/proc/driver/nvidia/gpus").exists() and not Path("/dev/nvidia0").exists():
        refuse(ty, "--source", proj, "--entry", "train.py", "--target", "nogpu", "--set",
               "use_gpu=true", expect=["use_gpu", "no GPU"])
    refuse(ty, "--source", proj, "--entry", "train.py", "--target", "cpu-only", "--set",
           "use_gpu=true", "--set", "process_count_per_node=2", "--set",
           "distributed_backend=pytorch", expect="process_count_per_node")


def test_interpreter_without_torch(ty, proj):
    fake = ty.tmp / "fakepython"
    # Python without site-packages: a real interpreter that cannot import torch.
    fake.write_text("#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n")
    fake.chmod(0o755)
    err = refuse(ty, "--source", proj, "--entry", "train.py", "--set", f"python={fake}",
                 expect=[str(fake), "torch"], code=1)
    assert "TRAINYARD_PYTHON" in err or "python:" in err


def test_missing_interpreter(ty, proj):
    refuse(ty, "--source", proj, "--entry", "train.py", "--set", "python=/no/such/python",
           expect="/no/such/python")


def test_conda_without_conda_is_refused(ty, proj):
    refuse(ty, "--source", proj, "--entry", "train.py", "--set", "conda_packages=[numpy]",
           expect="conda_packages")


def test_unknown_input_reference(ty, proj):
    f = job(ty, "code: .\ncommand: python train.py --data ${{inputs.dta}}\n"
                "inputs:\n  data: 1\n")
    refuse(ty, f, expect=['dta', 'did you mean "data"'])


def test_snapshot_limit_is_checked_before_copying(ty, proj):
    (proj / "big.bin").write_bytes(b"\0" * 200_000)
    proc = ty.run("submit", "--source", proj, "--entry", "train.py",
                  env={"TRAINYARD_SNAPSHOT_LIMIT": "100000"})
    assert proc.returncode != 0
    assert "TRAINYARD_SNAPSHOT_LIMIT" in proc.stderr and "big.bin" in proc.stderr
    assert ty.json("list") == []
    blobs = ty.workspace / "snapshots" / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))
