"""Inputs that could exhaust the machine or the workspace, and small silent acceptances (issue 11,
items 2, 5 and 7): the real binary refuses each at submit time with a clear error naming the
place or the field, returns (no test waits on a timer; the test run's own timeout is the bound),
and stores nothing. Valid JSON with surrogate-pair escapes is read exactly."""
import pytest

MIB = 1 << 20
HEAD = "source_directory: .\nentry_script: train.py\n"
JSON_HEAD = '{"source_directory": ".", "entry_script": "train.py"'


@pytest.fixture
def proj(ty):
    return ty.project("proj", {"train.py": "print('hi')\n"})


def job(proj, text, name="job.yaml"):
    p = proj / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def refuse(ty, *args, expect):
    proc = ty.run("submit", *args, check=2, timeout=60)
    for e in [expect] if isinstance(expect, str) else expect:
        assert e in proc.stderr, f"expected {e!r} in:\n{proc.stderr[:2000]}"
    assert "bad_alloc" not in proc.stderr
    assert ty.json("list") == [], "nothing may be stored"
    return proc.stderr


def test_alias_bomb_is_refused_quickly(ty, proj):
    # 1 MB of YAML: a 900 KB scalar behind an anchor, then 4 levels of 10 aliases each: 11,111
    # nodes, 10 GB once expanded (std::bad_alloc after 39 s before).
    text = HEAD + "a0: &a0 " + "x" * 900_000 + "\n"
    for i in range(1, 5):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    assert 900_000 < len(text) < MIB
    f = job(proj, text)
    refuse(ty, f, expect=[f"{f}:4:25: alias *a0 expands the document to more than 100000 keys "
                          "and values or 4 MiB of text"])
    # Many small nodes instead of a large one.
    text = HEAD + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 10):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    refuse(ty, job(proj, text), expect="expands the document to more than 100000 keys")


def test_deep_nesting_names_the_place(ty, proj):
    f = job(proj, HEAD + "tags: " + "[" * 10_000 + "]" * 10_000 + "\n")
    refuse(ty, f, expect=f"{f}:3:70: nesting deeper than 64 levels")
    f = job(proj, JSON_HEAD + ', "tags": ' + "[" * 10_000 + "]" * 10_000 + "}", "job.json")
    refuse(ty, f, expect=f"{f}:1:126: nesting deeper than 64 levels")


def test_job_file_size_limit(ty, proj):
    # 160,000 keys (20.7 s in a quadratic duplicate check before): over the size limit.
    f = job(proj, HEAD + "tags:\n" + "".join(f"  k{i}: v\n" for i in range(160_000)))
    size = f.stat().st_size
    refuse(ty, f, expect=f"{f}: the job file is {size} bytes; job files are limited to "
                         "1048576 bytes (1 MiB)")
    f = job(proj, JSON_HEAD + ', "display_name": "' + "x" * (2 * MIB) + '"}', "big.json")
    refuse(ty, f, expect="job files are limited to 1048576 bytes")


def test_duplicate_keys_in_a_large_file(ty, proj):
    # 45,000 keys fit the limits; the duplicate at the end is found (hash set, linear).
    text = HEAD + "tags:\n" + "".join(f"  k{i}: v\n" for i in range(45_000)) + "  k7: again\n"
    f = job(proj, text)
    assert f.stat().st_size < MIB
    refuse(ty, f, expect=f'{f}:45004:3: duplicate key "k7" (first written at {f}:11:3)')


def test_process_limits_and_plan_arithmetic(ty, proj):
    # Died with SIGFPE (an int overflow to 0, then a division) before.
    err = refuse(ty, "--source", proj, "--entry", "train.py", "--set", "node_count=65536",
                 "--set", "process_count_per_node=65536", "--set", "distributed_backend=pytorch",
                 "--dry-run",
                 expect=["--set node_count=65536: node_count: must be at most 4096",
                         "process_count_per_node: must be at most 4096"])
    assert "SIGFPE" not in err
    # Took 109 s and 10.7 GB before.
    f = job(proj, HEAD + "process_count_per_node: 1000000\ndistributed_backend: pytorch\n")
    refuse(ty, f, expect=f"{f}:3:25: process_count_per_node: must be at most 4096 (a limit), "
                         "got 1000000")
    # Within each field's limit, the product is the target's to refuse.
    refuse(ty, "--source", proj, "--entry", "train.py", "--set", "node_count=2",
           "--set", "process_count_per_node=4096", "--set", "distributed_backend=pytorch",
           expect='2 node_count x 4096 process_count_per_node = 8192 processes; target "local" '
                  "allows at most 4096 per run (its max_processes option")
    # The target option raises it.
    ty.run("target", "add", "small", "--type", "local", "--max-processes", "2", check=0)
    refuse(ty, "--source", proj, "--entry", "train.py", "--target", "small",
           "--set", "process_count_per_node=3", "--set", "distributed_backend=pytorch",
           expect='target "small" allows at most 2 per run')
    ok = ty.run("submit", "--source", proj, "--entry", "train.py", "--target", "small",
                "--set", "process_count_per_node=2", "--set", "distributed_backend=pytorch",
                "--dry-run", check=0)
    assert "world size 2" in ok.stdout


def test_plan_size(ty, proj):
    # 4096 local ranks each carrying a 100 KB argument: a 390 MiB plan, refused before planning.
    f = job(proj, HEAD + "process_count_per_node: 4096\ndistributed_backend: pytorch\n"
                         "extra_args: [" + "x" * 100_000 + "]\n")
    refuse(ty, f, expect="4096 processes each carrying 100001 bytes of arguments, environment "
                         "variables and inputs make a plan of 390 MiB; the limit is 256 MiB")


def test_second_yaml_document(ty, proj):
    f = job(proj, HEAD + "---\nnode_count: 2\n")
    refuse(ty, f, expect=f"{f}:3:1: a second YAML document")


def test_strict_json(ty, proj):
    f = job(proj, JSON_HEAD + ",}", "job.json")
    refuse(ty, f, expect=f'{f}:1:53: JSON syntax error: trailing comma before "}}"')
    f = job(proj, JSON_HEAD + ', "extra_args": ["a",]}', "job.json")
    refuse(ty, f, expect='JSON syntax error: trailing comma before "]"')
    f = job(proj, JSON_HEAD + ', "tags": {"x": "\\ud83d"}}', "job.json")
    refuse(ty, f, expect="JSON syntax error: lone high surrogate \\ud83d")
    f = job(proj, JSON_HEAD + ', "tags": {"x": "\\ude00x"}}', "job.json")
    refuse(ty, f, expect="JSON syntax error: lone low surrogate \\ude00")


def test_json_surrogate_pairs_are_read(ty, proj):
    f = job(proj, JSON_HEAD + ', "display_name": "smile \\ud83d\\ude00", '
                              '"tags": {"face": "\\ud83d\\ude00"}}', "job.json")
    run_id = ty.submit(f)
    ty.run("wait", run_id, check=0, timeout=120)
    info = ty.show(run_id)
    assert info["display_name"] == "smile \U0001F600"
    assert info["tags"] == {"face": "\U0001F600"}


def test_nul_bytes_are_refused(ty, proj):
    why = "contains a NUL byte"
    f = job(proj, HEAD + 'script_params:\n  --name: "a\\0b"\n')
    refuse(ty, f, expect=f'{f}:4:11: script_params["--name"]: {why}')
    f = job(proj, JSON_HEAD + ', "environment_variables": {"A": "x\\u0000y"}}', "job.json")
    refuse(ty, f, expect=f'environment_variables.A: {why}')
    refuse(ty, "--source", proj, "--entry", "train.py", "--set", 'display_name="a\\0b"',
           expect=f'--set display_name="a\\0b": display_name: {why}')


def test_out_of_range_numbers(ty, proj):
    f = job(proj, HEAD + "max_run_duration_seconds: 1e300\n")
    refuse(ty, f, expect=f"{f}:3:27: max_run_duration_seconds: must be at most 315360000 "
                         "seconds (10 years), got 1e300")
    f = job(proj, "code: .\ncommand: python train.py\nlimits: {timeout: 1e400}\n")
    refuse(ty, f, expect="limits.timeout: must be at most 315360000 seconds")
    refuse(ty, "--source", proj, "--entry", "train.py", "--timeout", "1e300",
           expect="max_run_duration_seconds: must be at most 315360000 seconds")
    f = job(proj, HEAD + "node_count: 99999999999999999999\n")
    refuse(ty, f, expect="node_count: must be at most 4096 (a limit), got 99999999999999999999")


def test_environment_variable_names(ty, proj):
    rule = "is not a valid variable name (letters, digits, '.', '-' and '_' only)"
    f = job(proj, HEAD + "environment_variables:\n  A B: x\n")
    refuse(ty, f, expect=f'{f}:4:3: environment_variables["A B"]: "A B" {rule}')
    refuse(ty, "--source", proj, "--entry", "train.py", "--env", "A B=x",
           expect=f'--env A B=x: environment_variables["A B"]: "A B" {rule}')
