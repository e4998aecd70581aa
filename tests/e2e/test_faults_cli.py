"""Issue #11 items 4 and 5 with the real binary: the option parser's empty, "-"-leading and
"="-containing values, and bytes that are not UTF-8 (refused in names and tags, carried exactly in
arguments, shown escaped, never an abort on what a workspace already holds)."""
import json
import os
import sqlite3
import subprocess
from pathlib import Path

from conftest import BIN

# Writes its arguments, as the bytes it got, to outputs/argv.json (a list of hex strings), and
# the bytes of $ODD to outputs/odd.hex.
ARGV_SCRIPT = """import json, os, sys
os.makedirs("outputs", exist_ok=True)
with open("outputs/argv.json", "w") as f:
    json.dump([os.fsencode(a).hex() for a in sys.argv[1:]], f)
with open("outputs/odd.hex", "w") as f:
    f.write(os.environb.get(b"ODD", b"").hex())
"""


def run_raw(ty, *args, check=None):
    """Runs the binary with arguments that may be bytes; stdout/stderr as bytes."""
    env = dict(os.environ)
    env.pop("TRAINYARD_WORKSPACE", None)
    words = [BIN, "--workspace", str(ty.workspace)] + [
        a if isinstance(a, bytes) else str(a) for a in args]
    proc = subprocess.run(words, capture_output=True, timeout=120, env=env)
    if check is not None:
        assert proc.returncode == check, (
            f"trainyard {args} exited {proc.returncode}, expected {check}\n"
            f"stdout:\n{proc.stdout!r}\nstderr:\n{proc.stderr!r}")
    return proc


def argv_of(ty, run_id):
    info = ty.show(run_id)
    path = Path(info["run_dir"]) / "outputs" / "argv.json"
    return [bytes.fromhex(h) for h in json.loads(path.read_text())]


def nothing_recorded(ty):
    assert ty.json("list") == []


# --- item 4: the option parser ------------------------------------------------------------------


def test_empty_arg_is_one_empty_argument_not_the_next_word(ty):
    src = ty.project("proj", {"train.py": ARGV_SCRIPT})
    # Before the fix, "--arg=" took "--dry-run" as its value and a real run was submitted.
    plan = ty.json("submit", "--source", src, "--entry", "train.py", "--arg=", "--dry-run")
    assert plan["dry_run"] is True
    assert plan["plan"]["processes"][0]["argv"][-1] == ""
    nothing_recorded(ty)
    out = ty.run("submit", "--source", src, "--entry", "train.py", "--arg=", "--dry-run",
                 check=0).stdout
    assert out.startswith("dry run: nothing was recorded")
    assert out.rstrip().endswith("train.py ''")
    nothing_recorded(ty)


def test_dash_and_equals_values_reach_the_script(ty):
    src = ty.project("proj", {"train.py": ARGV_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py",
                  "--arg=", "--arg=-v", "--arg", "-w", "--arg", "--dry-run", "--arg=a=b",
                  "--arg", "k=v=w", "--env=GREETING=a=b", "--wait", "--", "--arg=", "-x",
                  check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    assert argv_of(ty, run_id) == [b"", b"-v", b"-w", b"--dry-run", b"a=b", b"k=v=w",
                                   b"--arg=", b"-x"]
    env = ty.show(run_id)["plan"]["processes"][0]["env"]
    assert env["GREETING"] == "a=b"


def test_empty_value_of_every_submit_option_never_submits(ty):
    # Each option that takes a value, given "--x=" before --dry-run: whatever it says about the
    # empty value, it never takes "--dry-run" as its value and so never records a run.
    src = ty.project("proj", {"train.py": ARGV_SCRIPT})
    help_text = ty.run("submit", "--help", check=0).stdout
    assert "--arg=" in help_text or "--arg" in help_text
    options = ["--source", "--entry", "--arg", "--experiment", "--target", "--set", "--env",
               "--input", "--timeout"]
    for opt in options:
        assert opt in help_text
        proc = ty.run("submit", "--source", src, "--entry", "train.py", f"{opt}=",
                      "--dry-run")
        assert proc.returncode in (0, 2), (opt, proc.returncode, proc.stderr)
        if proc.returncode == 0:
            assert proc.stdout.startswith("dry run: nothing was recorded"), (opt, proc.stdout)
        else:
            assert "--dry-run" not in proc.stderr, (opt, proc.stderr)
        nothing_recorded(ty)
    # The empty experiment name is refused as such (not "--dry-run" as a name).
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--experiment=",
                  "--dry-run", check=2)
    assert "experiment" in proc.stderr


def test_empty_value_in_other_verbs(ty):
    # "--name=" is an empty metric name, not "--json" as the name.
    src = ty.project("proj", {"train.py": "print('hi')\n"})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    summary = ty.run("metrics", run_id, "--name=", "--json", check=0).stdout
    assert json.loads(summary) == {}
    listed = ty.run("list", "--experiment=", "--json", check=0).stdout
    assert [r["id"] for r in json.loads(listed)] == [run_id]
    proc = ty.run("list", "--status=", "--json", check=0)
    assert [r["id"] for r in json.loads(proc.stdout)] == [run_id]


# --- item 5: bytes that are not UTF-8 -----------------------------------------------------------


def test_non_utf8_arguments_are_carried_exactly(ty):
    src = ty.project("proj", {"train.py": ARGV_SCRIPT})
    odd = [b"\xff\xfe", b"caf\xc3\xa9", b"a\\x\x80", b"--lr=\xfe"]
    base = ["submit", "--source", src, "--entry", "train.py", "--arg", odd[0], b"--arg=" + odd[1]]
    # The dry run shows them escaped, and --json carries them as base64.
    dry = run_raw(ty, *base, "--dry-run", "--", *odd[2:], check=0).stdout.decode()
    assert "argv: " in dry and "$'\\xff\\xfe'" in dry and "$'a\\\\x\\x80'" in dry
    plan = json.loads(run_raw(ty, *base, "--dry-run", "--json", "--", *odd[2:], check=0).stdout)
    argv = plan["plan"]["processes"][0]["argv"]
    assert argv[-4] == {"bytes_b64": "//4="}
    assert argv[-3] == "caf\u00e9"
    nothing_recorded(ty)
    # Before the fix, submit itself aborted (exit 134) on the first of these.
    proc = run_raw(ty, *base, "--env", b"ODD=\xfe\xff!", "--wait", "--", *odd[2:], check=0)
    run_id = proc.stderr.decode().strip().splitlines()[0]
    assert argv_of(ty, run_id) == odd
    # The same bytes through --set (a value that is not YAML text is the bytes themselves).
    dry = json.loads(run_raw(ty, "submit", "--source", src, "--entry", "train.py", "--set",
                             b"script_params.--x=\xff\xfe", "--dry-run", "--json", check=0).stdout)
    assert dry["plan"]["processes"][0]["argv"][-2:] == ["--x", {"bytes_b64": "//4="}]
    odd_env = Path(ty.show(run_id)["run_dir"], "outputs", "odd.hex").read_text()
    assert bytes.fromhex(odd_env) == b"\xfe\xff!"
    shown = run_raw(ty, "show", run_id, check=0).stdout.decode()
    assert "$'\\xff\\xfe'" in shown and "$'--lr=\\xfe'" in shown
    info = json.loads(run_raw(ty, "show", run_id, "--json", check=0).stdout)
    assert info["argv"][-4:] == [{"bytes_b64": "//4="}, "caf\u00e9", {"bytes_b64": "YVx4gA=="},
                                 {"bytes_b64": "LS1scj3+"}]
    assert json.loads(run_raw(ty, "list", "--json", check=0).stdout)[0]["id"] == run_id


def test_non_utf8_names_and_tags_are_refused(ty):
    src = ty.project("proj", {"train.py": "print('hi')\n"})
    base = ["submit", "--source", src, "--entry", "train.py", "--dry-run"]
    cases = [
        ([b"--set", b"tags.k=\xff"], "tag value for 'k' is not valid UTF-8 (byte 0xff at offset 0)"),
        ([b"--set", b"tags.ok=fine\xc3"], "tag value for 'ok' is not valid UTF-8 (byte 0xc3 at offset 4)"),
        # yaml-cpp read FF FE as an encoding mark: the tag came out empty instead of refused.
        ([b"--set", b"tags.bom=\xff\xfe"], "tag value for 'bom' is not valid UTF-8 (byte 0xff at offset 0)"),
        ([b"--set", b"display_name=\xfe"], "display_name is not valid UTF-8 (byte 0xfe at offset 0)"),
        ([b"--experiment", b"\xff"], "experiment_name"),
    ]
    for extra, message in cases:
        proc = run_raw(ty, *base, *extra, check=2)
        assert message in proc.stderr.decode("utf-8", "replace"), (extra, proc.stderr)
    nothing_recorded(ty)
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    proc = run_raw(ty, "metrics", run_id, b"--name=\xff", check=2)
    assert b"--name is not valid UTF-8 (byte 0xff at offset 0)" in proc.stderr
    proc = run_raw(ty, "list", b"--experiment", b"x\xff", check=2)
    assert b"--experiment is not valid UTF-8 (byte 0xff at offset 1)" in proc.stderr
    proc = run_raw(ty, "target", "add", b"t\xff", check=2)
    assert b"target name is not valid UTF-8" in proc.stderr


def test_nul_is_refused_in_arguments_and_tags(ty):
    src = ty.project("proj", {"train.py": "print('hi')\n"})
    cases = {
        "params.json": ({"source_directory": str(src), "entry_script": "train.py",
                         "script_params": {"--name": "a\u0000b"}}, "--name"),
        "extra.json": ({"source_directory": str(src), "entry_script": "train.py",
                        "extra_args": ["ok", "x\u0000"]}, "extra_args"),
        "tags.json": ({"source_directory": str(src), "entry_script": "train.py",
                       "tags": {"k": "v\u0000"}}, "k"),
    }
    for name, (doc, message) in cases.items():
        path = ty.tmp / name
        path.write_text(json.dumps(doc))
        proc = ty.run("submit", path, "--dry-run", check=2)
        # The job-file reader refuses it (naming the field); submit checks again for the API.
        assert "NUL byte" in proc.stderr and message in proc.stderr, (name, proc.stderr)
    nothing_recorded(ty)


def test_old_workspace_with_odd_bytes_still_shows(ty):
    src = ty.project("proj", {"train.py": "print('hi')\n"})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set", "tags.k=v",
                  "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    # What an older trainyard let in: tag bytes that are not UTF-8, stored as TEXT.
    db = sqlite3.connect(ty.workspace / "workspace.db")
    with db:
        db.execute("INSERT INTO run_tags(run_id, key, value) VALUES(?, CAST(? AS TEXT),"
                   " CAST(? AS TEXT))", (run_id, b"odd\xff", b"\xff\xfe"))
        db.execute("UPDATE runs SET display_name = CAST(? AS TEXT) WHERE id = ?",
                   (b"name\xfe", run_id))
    db.close()
    # Before the fix: exit 134 (invalid UTF-8 in the JSON writer).
    info = json.loads(run_raw(ty, "show", run_id, "--json", check=0).stdout)
    assert info["tags"]["odd\ufffd"] == "\ufffd\ufffd"
    assert info["tags"]["k"] == "v"
    assert info["display_name"] == "name\ufffd"
    tags = json.loads(run_raw(ty, "tags", run_id, "--json", check=0).stdout)
    assert tags["tags"]["odd\ufffd"] == "\ufffd\ufffd"
    listed = json.loads(run_raw(ty, "list", "--json", check=0).stdout)
    assert listed[0]["display_name"] == "name\ufffd"
    shown = run_raw(ty, "show", run_id, check=0).stdout
    assert b"odd\\xff=\\xff\\xfe" in shown
    table = run_raw(ty, "tags", run_id, check=0).stdout
    assert b"\\xff\\xfe" in table
