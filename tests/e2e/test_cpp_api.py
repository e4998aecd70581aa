"""The public C++ API: a real program submits the digits example, streams it, lists its files."""
import os
import subprocess

from conftest import SOURCE_DIR


def test_cpp_api_example_submits_and_follows_a_run(ty):
    exe = os.environ["TRAINYARD_CPP_API_EXAMPLE"]
    env = dict(os.environ, TRAINYARD_WORKSPACE=str(ty.workspace))
    proc = subprocess.run([exe, str(SOURCE_DIR / "examples" / "digits"), "3"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  | epoch 3/3" in proc.stdout
    assert "ended Completed" in proc.stdout
    assert "file: outputs/model.pt" in proc.stdout
    run_id = proc.stdout.split("submitted ", 1)[1].split()[0]
    info = ty.show(run_id)
    assert info["experiment"] == "digits-cpp-api"
    assert info["argv"][1:] == ["train.py", "--epochs", "3", "--lr", "0.01"]


def test_cpp_api_refuses_bad_estimator(ty):
    exe = os.environ["TRAINYARD_CPP_API_EXAMPLE"]
    env = dict(os.environ, TRAINYARD_WORKSPACE=str(ty.workspace))
    proc = subprocess.run([exe, str(ty.tmp / "missing")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "source_directory" in proc.stderr
