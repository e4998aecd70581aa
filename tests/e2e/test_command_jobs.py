"""Command jobs as the hosted CLI v2 writes them (issue 14, items 1-2): the published `hello-*`
command-job examples (Azure/azureml-examples, cli/jobs/basics) that need no cloud service, run
verbatim but for their `environment:` line, plus the shell semantics of `command`: bash -c, values
substituted as one word each that can never inject, python meaning the job's interpreter.

The examples name `environment: {image: ...}` or a registered `azureml:` environment: container
images and registered environments are a later part of issue 14, so that one line is replaced by
the local interpreter (`environment: {python: <this interpreter>}`) and nothing else is changed.
Their `compute: azureml:cpu-cluster` is the trainyard target `cpu-cluster` (a local target added
by each test).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN

PYTHON = sys.executable
ENVIRONMENT = re.compile(r"^environment:.*\n(?:[ \t]+.*\n)*", re.M)


def hosted(text):
    """The hosted example with only its environment line(s) replaced (see the module docstring)."""
    replaced, n = ENVIRONMENT.subn(f"environment: {{python: {PYTHON}}}\n", text)
    assert n == 1, text
    return replaced


@pytest.fixture
def cluster(ty):
    ty.run("target", "add", "cpu-cluster", "--type", "local", check=0)
    return ty


def submit_file(ty, folder, text, *extra, name="job.yml"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    proc = ty.run("submit", folder / name, "--wait", *extra)
    return proc


def completed(ty, folder, text, *extra):
    proc = submit_file(ty, folder, text, *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["status"] == "Completed", info
    return run_id, info


def logs(ty, run_id):
    return ty.run("logs", run_id, check=0).stdout


def files(ty, run_id):
    return [f["path"] for f in ty.json("files", run_id)]


# --- the hosted hello-* examples ----------------------------------------------------------------

HELLO_WORLD = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo "hello world"
environment:
  image: library/python:latest
compute: azureml:cpu-cluster
"""


def test_hello_world_without_code_runs_in_an_empty_folder(cluster):
    ty = cluster
    run_id, info = completed(ty, ty.tmp / "hw", hosted(HELLO_WORLD))
    assert "hello world" in logs(ty, run_id)
    assert info["target"] == "cpu-cluster"
    assert info["snapshot"]["files"] == 0
    assert info["argv"][:2] == ["bash", "-c"]


def test_hello_world_image_not_in_local_storage_is_refused_at_submit(cluster):
    # Images run through podman's local storage (tests/e2e/test_images.py); this one is not
    # there, and trainyard never pulls.
    ty = cluster
    proc = submit_file(ty, ty.tmp / "img", HELLO_WORLD)
    assert proc.returncode != 0
    assert 'image "library/python:latest"' in proc.stderr, proc.stderr
    assert "podman" in proc.stderr


HELLO_WORLD_ORG = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo "hello world"
environment:
  image: python:latest
compute: azureml:cpu-cluster
tags:
  hello: world
display_name: hello-world-example
experiment_name: hello-world-example
description: |
  # Azure Machine Learning "hello world" job

  This is a "hello world" job running in the cloud via Azure Machine Learning!

  ## Description

  Markdown is supported in the studio for job descriptions! You can edit the description there or via CLI.
"""


def test_hello_world_org_metadata(cluster):
    ty = cluster
    run_id, info = completed(ty, ty.tmp / "org", hosted(HELLO_WORLD_ORG))
    assert info["display_name"] == "hello-world-example"
    assert info["experiment"] == "hello-world-example"
    assert info["tags"] == {"hello": "world"}
    assert info["properties"]["description"].startswith(
        '# Azure Machine Learning "hello world" job\n\nThis is')
    assert "hello world" in logs(ty, run_id)


HELLO_WORLD_INPUT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: |
  echo ${{inputs.hello_string}}
  echo ${{inputs.hello_number}}
environment:
  image: python:latest
inputs:
  hello_string: "hello world"
  hello_number: 42
compute: azureml:cpu-cluster
"""


def test_hello_world_input_multi_line(cluster):
    ty = cluster
    run_id, _ = completed(ty, ty.tmp / "in", hosted(HELLO_WORLD_INPUT))
    out = logs(ty, run_id)
    assert "hello world" in out and "42" in out
    assert out.index("hello world") < out.index("42")  # both lines ran, in order


HELLO_WORLD_ENV_VAR = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo $hello_env_var
environment:
  image: library/python:latest
compute: azureml:cpu-cluster
environment_variables:
  hello_env_var: "hello world"
"""


def test_hello_world_env_var_expands_in_the_shell(cluster):
    ty = cluster
    run_id, _ = completed(ty, ty.tmp / "env", hosted(HELLO_WORLD_ENV_VAR))
    assert "hello world" in logs(ty, run_id)


HELLO_WORLD_OUTPUT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo "hello world" > ./outputs/helloworld.txt
environment:
  image: python:latest
compute: azureml:cpu-cluster
"""


def test_hello_world_output_redirect_is_kept_and_downloadable(cluster):
    ty = cluster
    run_id, _ = completed(ty, ty.tmp / "out", hosted(HELLO_WORLD_OUTPUT))
    assert "outputs/helloworld.txt" in files(ty, run_id)
    dest = ty.tmp / "dl"
    ty.run("download", run_id, "outputs", "-o", dest, check=0)
    assert (dest / "outputs/helloworld.txt").read_text() == "hello world\n"


HELLO_WORLD_OUTPUT_DATA = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo "hello world" > ${{outputs.hello_output}}/helloworld.txt
outputs:
  hello_output:
environment:
  image: python
compute: azureml:cpu-cluster
"""


def test_hello_world_named_output(cluster):
    ty = cluster
    run_id, _ = completed(ty, ty.tmp / "outdata", hosted(HELLO_WORLD_OUTPUT_DATA))
    assert "outputs/hello_output/helloworld.txt" in files(ty, run_id)
    dest = ty.tmp / "dl"
    ty.run("download", run_id, "outputs/hello_output", "-o", dest, check=0)
    assert (dest / "outputs/hello_output/helloworld.txt").read_text() == "hello world\n"


HELLO_CODE = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: ls
code: src
environment:
  image: python:latest
compute: azureml:cpu-cluster
"""


def test_hello_code_lists_the_code(cluster):
    ty = cluster
    root = ty.project("code", {"src/hello.py": "print('hi')\n", "src/data/x.txt": "x\n"})
    run_id, _ = completed(ty, root, hosted(HELLO_CODE))
    out = logs(ty, run_id)
    assert "hello.py" in out and "data" in out


HELLO_LOCAL_FOLDER_AS_INPUT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json

command: |
  ls ${{inputs.my_input}}
inputs:
  my_input:
    path: ./data
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
compute: azureml:cpu-cluster
"""


def test_hello_local_folder_as_input(cluster):
    ty = cluster
    root = ty.project("lf", {"data/somedata.txt": "hello\n"})
    run_id, _ = completed(ty, root, hosted(HELLO_LOCAL_FOLDER_AS_INPUT))
    assert "somedata.txt" in logs(ty, run_id)


def test_curated_environment_runs_verbatim_on_the_local_interpreter(cluster):
    # Registered and curated environments exist now (issue 14 item 4, tests/e2e/test_assets.py):
    # the example runs as published, and its environment log says what the curated name became.
    ty = cluster
    run_id, _ = completed(ty, ty.project("re", {"data/somedata.txt": "x"}),
                          HELLO_LOCAL_FOLDER_AS_INPUT)
    assert "somedata.txt" in logs(ty, run_id)
    env_log = Path(ty.workspace, "runs", run_id, "logs", "environment.log").read_text()
    assert "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest: a hosted curated environment" in env_log


# --- shell semantics ----------------------------------------------------------------------------

# The values the estimator tests use to try injection, and more: each must arrive as one word.
ODD = {
    "semi": "a b; rm -rf ~; touch ../pwned",
    "subst": "$(touch ../pwned)",
    "ticks": "`touch ../pwned`",
    "quotes": "it's \"quoted\" '' \\",
    "newline": "line1\nline2; touch ../pwned",
    "glob": "*",
    "var": "$HOME ${PATH}",
    "dash": "--lr=1 -x",
}


def job_with_inputs(command, inputs, outputs=""):
    lines = ["command: |"] + ["  " + line for line in command.splitlines()]
    lines.append(f"environment: {{python: {PYTHON}}}")
    lines.append("inputs:")
    for k, v in inputs.items():
        lines.append(f"  {k}: {json.dumps(v)}")
    if outputs:
        lines.append(outputs)
    return "\n".join(lines) + "\n"


def test_values_are_one_word_and_never_shell_syntax(ty):
    refs = " ".join(f"${{{{inputs.{k}}}}}" for k in ODD)
    # Outside quotes, inside double quotes and inside single quotes (as text there).
    command = (f"printf '%s\\0' {refs} > ${{{{outputs.o}}}}/words\n"
               f"printf '%s\\0' \"x ${{{{inputs.semi}}}} y\" > ${{{{outputs.o}}}}/dq\n"
               f"echo \"$(printf '%s' ${{{{inputs.newline}}}} | wc -l)\" > ${{{{outputs.o}}}}/sub\n")
    run_id, _ = completed(ty, ty.tmp / "odd", job_with_inputs(command, ODD, "outputs: {o: }"))
    assert "pwned" not in " ".join(files(ty, run_id))
    run_dir = Path(ty.show(run_id)["run_dir"])
    words = (run_dir / "outputs/o/words").read_text().split("\0")[:-1]
    assert words == list(ODD.values())
    assert (run_dir / "outputs/o/dq").read_text() == "x " + ODD["semi"] + " y\0"
    assert (run_dir / "outputs/o/sub").read_text() == "1\n"  # one line break: one word


def test_non_utf8_value_through_set_is_one_word(ty):
    folder = ty.tmp / "bytes"
    folder.mkdir()
    (folder / "job.yml").write_text(
        "command: printf '%s' ${{inputs.b}} > outputs/b.bin\ninputs: {b: x}\n")
    proc = subprocess.run([BIN, "--workspace", str(ty.workspace), "submit",
                           str(folder / "job.yml"), "--set", b"inputs.b=\xff\xfe; touch pwned",
                           "--wait"], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stderr.decode().strip().splitlines()[0]
    run_dir = Path(ty.show(run_id)["run_dir"])
    assert (run_dir / "outputs/b.bin").read_bytes() == b"\xff\xfe; touch pwned"
    assert not any("pwned" in f for f in files(ty, run_id))


def test_and_pipes_redirects_and_failure_status(ty):
    command = ("echo one | tr a-z A-Z > ${{outputs.o}}/up.txt && echo two >> ${{outputs.o}}/up.txt\n"
               "false && echo never > ${{outputs.o}}/never.txt\n"
               "echo to-stderr 1>&2\n")
    run_id, _ = completed(ty, ty.tmp / "shell", job_with_inputs(command, {}, "outputs: {o: }"))
    run_dir = Path(ty.show(run_id)["run_dir"])
    assert (run_dir / "outputs/o/up.txt").read_text() == "ONE\ntwo\n"
    assert not (run_dir / "outputs/o/never.txt").exists()
    assert "to-stderr" in logs(ty, run_id)
    # The script's status is the run's: a failing last command fails the run.
    proc = submit_file(ty, ty.tmp / "fail", "command: |\n  echo start\n  exit 3\n")
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["status"] == "Failed" and info["exit_code"] == 3


def test_python_means_the_jobs_interpreter(ty):
    command = ("python -c 'import sys; print(sys.executable)' > ${{outputs.o}}/py\n"
               "bash -c \"python3 -c 'import sys; print(sys.executable)'\" > ${{outputs.o}}/py3\n")
    run_id, info = completed(ty, ty.tmp / "py", job_with_inputs(command, {}, "outputs: {o: }"))
    run_dir = Path(info["run_dir"])
    want = os.path.realpath(info["interpreter"])
    assert os.path.realpath((run_dir / "outputs/o/py").read_text().strip()) == want
    assert os.path.realpath((run_dir / "outputs/o/py3").read_text().strip()) == want


def test_list_command_is_argv_without_a_shell(ty):
    folder = ty.tmp / "list"
    folder.mkdir()
    (folder / "job.yml").write_text(
        "command: [printf, '<%s>', '${{inputs.v}}', '$HOME', '${{outputs.o}}']\n"
        "inputs: {v: 'a b; echo x'}\noutputs: {o: }\n")
    proc = ty.run("submit", folder / "job.yml", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    out = logs(ty, run_id)
    assert "<a b; echo x><$HOME><" in out and "/work/outputs/o>" in out


def test_cli_arguments_after_a_shell_command_are_words(ty):
    folder = ty.tmp / "args"
    folder.mkdir()
    (folder / "job.yml").write_text("command: |\n  printf '<%s>' first\n")
    proc = ty.run("submit", folder / "job.yml", "--wait", "--", "two words", "; echo injected",
                  check=0)
    out = logs(ty, proc.stderr.strip().splitlines()[0])
    assert "<first><two words><; echo injected>" in out
    assert "\ninjected" not in out


def test_bad_shell_syntax_and_search_space_outside_a_sweep_are_refused_at_submit(ty):
    proc = submit_file(ty, ty.tmp / "syntax", "command: |\n  echo \"unterminated\n")
    assert proc.returncode != 0 and "command: not a valid bash script" in proc.stderr
    proc = submit_file(ty, ty.tmp / "sweep", "command: echo ${{search_space.lr}}\n")
    assert proc.returncode != 0
    assert "search_space values exist only in the trial of a sweep" in proc.stderr
    assert json.loads(ty.run("list", "--json", check=0).stdout) == []


def test_every_field_of_the_schema(cluster):
    ty = cluster
    text = f"""\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: full-job
description: a full job
experiment_name: full
tags: {{t: v}}
properties: {{owner: team-a}}
command: echo "${{{{inputs.greeting}}}}" > ${{{{outputs.result}}}}
environment: {{python: {PYTHON}}}
environment_variables: {{X: "1"}}
inputs: {{greeting: hi}}
outputs:
  result: {{type: uri_file, path: azureml://datastores/workspaceblobstore/paths/r/result.txt, mode: upload}}
  model: {{type: mlflow_model}}
compute: azureml:cpu-cluster
resources: {{instance_count: 1, shm_size: 2g}}
distribution: {{type: pytorch, process_count_per_instance: 1}}
limits: {{timeout: 120}}
queue_settings: {{job_tier: standard}}
identity: {{type: user_identity}}
"""
    folder = ty.tmp / "full"
    folder.mkdir()
    (folder / "job.yml").write_text(text)
    dry = ty.run("submit", folder / "job.yml", "--dry-run", check=0).stdout
    assert "resources.shm_size 2g: noted only" in dry and "queue_settings: noted only" in dry
    assert "no code: the command runs in an empty working folder" in dry
    run_id, info = completed(ty, folder, text)
    assert info["display_name"] == "full-job"  # name, as it has no display_name
    assert info["properties"]["name"] == "full-job"
    assert info["properties"]["owner"] == "team-a"
    assert info["properties"]["description"] == "a full job"
    assert "outputs/result/result.txt" in files(ty, run_id)
    dest = ty.tmp / "dl"
    ty.run("download", run_id, "outputs/result/result.txt", "-o", dest, check=0)
    assert (dest / "outputs/result/result.txt").read_text() == "hi\n"
    for field, expect in [("services: {jupyter: {type: jupyter_lab}}", "interactive services"),
                          ("distribution: {type: tensorflow}", "tensorflow is not supported"),
                          ("descripton: x", 'did you mean "description"')]:
        proc = submit_file(ty, ty.tmp / "bad", "command: echo\n" + field + "\n")
        assert proc.returncode != 0 and expect in proc.stderr, proc.stderr


@pytest.mark.parametrize("backend", ["mpi", "pytorch"])
def test_distributed_ranks_each_run_the_script(ty, backend):
    if backend == "mpi" and shutil.which("mpirun") is None:
        pytest.skip("Open MPI's mpirun is not installed")
    # Under mpi each rank is `trainyard rank-exec -- bash -c SCRIPT` started by a real mpirun.
    command = ('echo "rank $RANK of $WORLD_SIZE: ${{inputs.msg}}" > ${{outputs.o}}/rank-$RANK.txt\n'
               "python -c 'import os; print(\"py\", os.environ[\"RANK\"])'\n")
    text = job_with_inputs(command, {"msg": "a; b $(id)"},
                           f"outputs: {{o: }}\ndistribution: {{type: {backend}, "
                           "process_count_per_instance: 2}")
    run_id, info = completed(ty, ty.tmp / backend, text)
    run_dir = Path(info["run_dir"])
    for rank in (0, 1):
        assert (run_dir / f"outputs/o/rank-{rank}.txt").read_text() == \
            f"rank {rank} of 2: a; b $(id)\n"
    out = logs(ty, run_id)
    assert "py 0" in out and "py 1" in out
