"""Snapshots under faults (issue 11, item 6), with the real binary: symlinks that leave the source
folder are refused, those inside are kept as symlinks; a file rewritten while it is read is never
stored torn; names up to the file system's limit restore; `snapshot restore` keeps out of a
folder that is not empty unless --force."""
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

SCRIPT_READS_THROUGH_LINKS = """\
import json, os, sys
sys.path.insert(0, "pkg")
import helper  # pkg -> ../shared/pkg, a link to a folder
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.json", "w") as f:
    json.dump({"links": {p: os.readlink(p) for p in ["data.csv", "pkg", "up"] if os.path.islink(p)},
               "data": open("data.csv").read(), "helper": helper.VALUE,
               "long": open(os.path.join("names", "n" * 255)).read()}, f)
"""


def run_id_of(ty):
    runs = ty.json("list")
    assert len(runs) == 1, runs
    return runs[0]["id"]


def test_links_that_leave_the_source_are_refused_naming_them(ty):
    outside = ty.tmp / "outside.txt"
    outside.write_text("secret\n")
    src = ty.project("proj", {"train.py": "print('hi')\n"})
    os.symlink(outside, src / "data.txt")
    os.symlink("..", src / "parentloop")
    proc = ty.run("submit", "--source", src, "--entry", "train.py", check=2)
    err = proc.stderr
    assert "2 symlinks lead out of the source folder" in err, err
    assert f"data.txt -> {outside}" in err, err
    assert "parentloop -> .." in err, err
    assert f"list them in {src}/.trainyardignore" in err, err
    assert ty.json("list") == []
    blobs = ty.workspace / "snapshots" / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))

    # `parentloop -> ..` alone is refused too; listed in the ignore file, both are left out.
    (src / "data.txt").unlink()
    err = ty.run("submit", "--source", src, "--entry", "train.py", check=2).stderr
    assert "1 symlink leads out of the source folder" in err and "parentloop -> .." in err, err
    (src / ".trainyardignore").write_text("parentloop\ndata.txt\n")
    os.symlink(outside, src / "data.txt")
    ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    info = ty.show(run_id_of(ty))
    assert info["status"] == "Completed"
    assert info["snapshot"]["files"] == 2  # train.py and .trainyardignore


def test_links_inside_are_kept_as_links_and_long_names_restore(ty):
    src = ty.project("proj", {
        "train.py": SCRIPT_READS_THROUGH_LINKS,
        "data/real.csv": "a,b\n1,2\n",
        "shared/pkg/helper.py": "VALUE = 42\n",
        "names/" + "n" * 255: "the longest name\n",
    })
    os.symlink(src / "data" / "real.csv", src / "data.csv")  # absolute, inside: made relative
    os.symlink("shared/pkg", src / "pkg")
    os.symlink(".", src / "up")  # would loop if walked
    ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    run_id = run_id_of(ty)
    info = ty.show(run_id)
    assert info["status"] == "Completed", info
    result = json.loads((ty.workspace / "runs" / run_id / "outputs" / "result.json").read_text())
    assert result == {"links": {"data.csv": "data/real.csv", "pkg": "shared/pkg", "up": "."},
                      "data": "a,b\n1,2\n", "helper": 42, "long": "the longest name\n"}

    out = ty.tmp / "restored"
    proc = ty.run("snapshot", "restore", run_id, out, check=0)
    assert "(4 files, 3 symlinks)" in proc.stdout, proc.stdout
    assert os.readlink(out / "pkg") == "shared/pkg"
    assert (out / "pkg" / "helper.py").read_text() == "VALUE = 42\n"
    assert (out / "names" / ("n" * 255)).read_text() == "the longest name\n"
    assert sorted(p.name for p in out.iterdir()) == ["data", "data.csv", "names", "pkg", "shared",
                                                     "train.py", "up"]


def test_restore_refuses_a_folder_that_is_not_empty_unless_forced(ty):
    src = ty.project("proj", {"train.py": "print('hi')\n", "lib/util.py": "X = 1\n"})
    ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    run_id = run_id_of(ty)

    empty = ty.tmp / "empty"
    empty.mkdir()
    ty.run("snapshot", "restore", run_id, empty, check=0)
    assert (empty / "lib" / "util.py").read_text() == "X = 1\n"

    busy = ty.tmp / "busy"
    busy.mkdir()
    (busy / "train.py").write_text("mine\n")
    (busy / "notes.txt").write_text("keep me\n")
    err = ty.run("snapshot", "restore", run_id, busy, check=2).stderr
    assert f"the folder {busy} is not empty" in err and "--force" in err, err
    assert (busy / "train.py").read_text() == "mine\n"
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt", "train.py"]

    ty.run("snapshot", "restore", "--force", run_id, busy, check=0)
    assert (busy / "train.py").read_text() == "print('hi')\n"
    assert (busy / "notes.txt").read_text() == "keep me\n"
    assert (busy / "lib" / "util.py").read_text() == "X = 1\n"


BLOCK = 64 * 1024
BLOCKS = 1024  # 64 MiB: reading it takes many times as long as one lap of the writer

WRITER = f"""
import os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
version = 1
while True:
    version += 1
    block = struct.pack("<Q", version) * ({BLOCK} // 8)
    for i in range({BLOCKS}):
        os.pwrite(fd, block, i * {BLOCK})
    if version == 3:
        open(sys.argv[2], "w").close()  # a whole lap is done: the writer is running
"""


def test_a_file_rewritten_during_the_snapshot_is_never_stored_torn(ty):
    src = ty.project("proj", {"train.py": "print('hi')\n"})
    big = src / "big.bin"
    big.write_bytes(struct.pack("<Q", 1) * (BLOCK * BLOCKS // 8))
    started = ty.tmp / "writer-started"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(big), str(started)])
    try:
        deadline = time.time() + 60
        while not started.exists():
            assert writer.poll() is None, "the writer died"
            assert time.time() < deadline, "the writer did not start"
            time.sleep(0.01)
        proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait")
    finally:
        writer.kill()
        writer.wait()
    if proc.returncode != 0:
        # Refused: it names the file, says what happened and what to do.
        assert f"{big}: file changed as we read it" in proc.stderr, proc.stderr
        assert ".trainyardignore" in proc.stderr, proc.stderr
        assert ty.json("list") == []
        return
    # Stored: then it is one state the file really had: the writer goes front to back, so the
    # blocks are version v+1 up to some point and v after it.
    out = ty.tmp / "restored"
    ty.run("snapshot", "restore", run_id_of(ty), out, check=0)
    data = (out / "big.bin").read_bytes()
    assert len(data) == BLOCK * BLOCKS
    versions = [struct.unpack_from("<Q", data, i * BLOCK)[0] for i in range(BLOCKS)]
    for i in range(BLOCKS):
        block = data[i * BLOCK:(i + 1) * BLOCK]
        assert block == struct.pack("<Q", versions[i]) * (BLOCK // 8), f"block {i} is torn"
    assert all(a >= b for a, b in zip(versions, versions[1:])), "versions go up: torn"
    assert versions[0] - versions[-1] <= 1, "more than one lap apart: torn"
