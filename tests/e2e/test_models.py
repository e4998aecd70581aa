"""The model registry end to end (issue 16, "Registry"): `trainyard model register|list|show|
download|path|delete` against a real run's outputs, local files and folders."""
import json
import os
import sqlite3
import stat

TRAIN = """
import os
from trainyard import Run
run = Run.get_context()
for i in range(3):
    run.log("loss", 1.0 / (i + 1))
run.log("accuracy", 0.875)
os.makedirs("outputs/bundle", exist_ok=True)
with open("outputs/model.pt", "wb") as f:
    f.write(b"trained weights")
with open("outputs/bundle/weights.bin", "wb") as f:
    f.write(b"0123456789")
with open("outputs/bundle/.gitignore", "w") as f:
    f.write("*.bin\\n")
"""


def train(ty):
    src = ty.project("proj", {"train.py": TRAIN})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--experiment", "digits",
                  "--wait", check=0)
    return proc.stderr.strip().splitlines()[0]


def add_deployment(ty, name, model, version):
    db = sqlite3.connect(str(ty.workspace / "workspace.db"))
    with db:
        db.execute("INSERT INTO deployments(name, state, spec_json, created_at, updated_at) "
                   "VALUES(?, 'Healthy', '{}', 1, 1)", (name,))
        db.execute("INSERT INTO deployment_models(deployment, model, version) VALUES(?, ?, ?)",
                   (name, model, version))
    db.close()


def remove_deployments(ty):
    db = sqlite3.connect(str(ty.workspace / "workspace.db"))
    with db:
        db.execute("DELETE FROM deployment_models")
        db.execute("DELETE FROM deployments")
    db.close()


def test_register_from_a_run_with_lineage(ty):
    run_id = train(ty)
    proc = ty.run("model", "register", "--name", "digits", "--run", run_id, "--path",
                  "outputs/model.pt", "--tag", "framework=torch", "--property", "stage=dev",
                  "--description", "the digits MLP", check=0)
    assert proc.stdout.strip().splitlines()[-1] == "digits:1"

    m = ty.json("model", "show", "digits")
    assert m["id"] == "digits:1" and m["version"] == 1 and m["name"] == "digits"
    assert m["run_id"] == run_id
    assert m["experiment"] == "digits"
    assert m["run_path"] == "outputs/model.pt"
    assert m["metrics"] == {"loss": 1.0 / 3, "accuracy": 0.875}
    assert m["tags"] == {"framework": "torch"}
    assert m["properties"] == {"stage": "dev"}
    assert m["description"] == "the digits MLP"
    assert m["path"] == "model.pt" and m["is_dir"] is False
    assert m["files"] == 1 and m["bytes"] == len(b"trained weights")
    assert len(m["digest"]) == 64
    assert m["created_at"].endswith("Z")
    assert m["deployments"] == []

    human = ty.run("model", "show", "digits:1", check=0).stdout
    assert run_id in human and "outputs/model.pt" in human and "accuracy=0.875" in human

    # The same bytes again (from the run or as a local copy of them): the same version.
    again = ty.run("model", "register", "--name", "digits", "--run", run_id, "--path",
                   "outputs/model.pt", check=0)
    assert "already registered as digits:1 (same bytes)" in again.stdout
    assert again.stdout.strip().splitlines()[-1] == "digits:1"
    copy = ty.tmp / "copy" / "model.pt"
    copy.parent.mkdir()
    copy.write_bytes(b"trained weights")
    j = ty.json("model", "register", "--name", "digits", "--path", copy)
    assert j["already_registered"] is True and j["version"] == 1

    # A folder from the run is taken whole: its .gitignore leaves nothing out.
    folder = ty.json("model", "register", "--name", "bundle", "--run", run_id, "--path",
                     "outputs/bundle/")
    assert folder["path"] == "bundle" and folder["is_dir"] is True
    assert folder["files"] == 2 and folder["already_registered"] is False
    path = ty.run("model", "path", "bundle", check=0).stdout.strip()
    assert path == str(ty.workspace / "models" / "bundle" / "1" / "bundle")
    with open(os.path.join(path, "weights.bin"), "rb") as f:
        assert f.read() == b"0123456789"


def test_run_paths_must_exist_inside_the_run_folder(ty):
    run_id = train(ty)
    for bad, code, words in [
        ("outputs/missing.pt", 2, "outputs/model.pt"),  # names what the run has
        ("../../workspace.db", 2, "not a path inside"),
        (str(ty.workspace / "workspace.db"), 2, "not a path inside"),
    ]:
        proc = ty.run("model", "register", "--name", "m", "--run", run_id, "--path", bad,
                      check=code)
        assert words in proc.stderr, proc.stderr
    os.symlink(ty.workspace / "workspace.db",
               ty.workspace / "runs" / run_id / "outputs" / "escape.pt")
    proc = ty.run("model", "register", "--name", "m", "--run", run_id, "--path",
                  "outputs/escape.pt", check=2)
    assert "leads out of run" in proc.stderr
    proc = ty.run("model", "register", "--name", "m", "--run", "nosuchrun", "--path",
                  "outputs/model.pt", check=2)
    assert "nosuchrun" in proc.stderr
    assert ty.json("model", "list") == []


def test_local_files_and_folders_versions_list_download_path(ty):
    model = ty.tmp / "model.pt"
    model.write_bytes(b"v1")
    assert ty.json("model", "register", "--name", "clf", "--path", model)["version"] == 1
    model.write_bytes(b"v2")
    out = ty.run("model", "register", "--name", "clf", "--path", model, check=0).stdout
    assert out.strip().splitlines()[-1] == "clf:2"
    folder = ty.tmp / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "data").write_bytes(b"numbers")
    (folder / ".trainyardignore").write_text("variables/\n")  # a model folder is taken whole
    v3 = ty.json("model", "register", "--name", "clf", "--path", folder)
    assert v3["version"] == 3 and v3["files"] == 3 and v3["is_dir"] is True
    other = ty.json("model", "register", "--name", "other", "--path", model)
    assert other["version"] == 1

    listed = ty.json("model", "list")
    assert [m["id"] for m in listed] == ["clf:1", "clf:2", "clf:3", "other:1"]
    assert [m["id"] for m in ty.json("model", "list", "clf")] == ["clf:1", "clf:2", "clf:3"]
    table = ty.run("model", "list", check=0).stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "VERSION", "PATH", "SIZE"]
    assert len(table) == 5 and table[3].split()[:3] == ["clf", "3", "saved/"]
    assert ty.json("model", "show", "clf")["version"] == 3  # the latest
    assert ty.json("model", "show", "clf:latest")["version"] == 3

    # path: a read-only copy in the workspace, the same on every call.
    p1 = ty.run("model", "path", "clf:1", check=0).stdout.strip()
    assert p1 == str(ty.workspace / "models" / "clf" / "1" / "model.pt")
    with open(p1, "rb") as f:
        assert f.read() == b"v1"
    assert stat.S_IMODE(os.stat(p1).st_mode) == 0o444
    assert ty.run("model", "path", "clf:1", check=0).stdout.strip() == p1
    p3 = ty.run("model", "path", "clf:3", check=0).stdout.strip()
    assert sorted(os.listdir(p3)) == [".trainyardignore", "saved_model.pb", "variables"]

    # download: into --dir, or the current folder; never over an existing file.
    dest = ty.tmp / "dl"
    proc = ty.run("model", "download", "clf:3", "--dir", dest, check=0)
    assert proc.stdout.strip() == str(dest / "saved")
    assert (dest / "saved" / "variables" / "data").read_bytes() == b"numbers"
    proc = ty.run("model", "download", "clf:3", "--dir", dest, check=1)
    assert "exists" in proc.stderr
    cwd = ty.tmp / "here"
    cwd.mkdir()
    proc = ty.run("model", "download", "clf:2", cwd=cwd, check=0)
    assert proc.stdout.strip() == str(cwd / "model.pt")
    assert (cwd / "model.pt").read_bytes() == b"v2"
    assert os.listdir(cwd) == ["model.pt"]


def test_delete_is_refused_while_a_deployment_uses_the_version(ty):
    model = ty.tmp / "model.pt"
    for content in (b"a", b"b"):
        model.write_bytes(content)
        ty.run("model", "register", "--name", "m", "--path", model, check=0)
    path = ty.run("model", "path", "m:1", check=0).stdout.strip()
    add_deployment(ty, "web", "m", 1)
    add_deployment(ty, "batch", "m", 1)
    assert ty.json("model", "show", "m:1")["deployments"] == ["batch", "web"]
    assert "deployments: batch, web" in ty.run("model", "show", "m:1", check=0).stdout
    proc = ty.run("model", "delete", "m:1", check=1)
    assert "batch" in proc.stderr and "web" in proc.stderr
    assert os.path.exists(path)
    assert [m["id"] for m in ty.json("model", "list")] == ["m:1", "m:2"]

    proc = ty.run("model", "delete", "m", check=2)  # the version must be named
    assert "NAME:VERSION" in proc.stderr
    assert "deleted model m:2" in ty.run("model", "delete", "m:2", check=0).stdout

    remove_deployments(ty)
    ty.run("model", "delete", "m:1", check=0)
    assert not os.path.exists(path)
    assert ty.json("model", "list") == []
    proc = ty.run("model", "delete", "m:1", check=2)
    assert "no model named" in proc.stderr


def test_bad_names_and_unknown_models(ty):
    model = ty.tmp / "model.pt"
    model.write_bytes(b"w")
    for bad in ("a/b", "../up", ".hidden", "has space", "x" * 256, ""):
        proc = ty.run("model", "register", "--name", bad, "--path", model, check=2)
        assert "model name" in proc.stderr, proc.stderr
    proc = ty.run("model", "register", "--name", "m", "--path", ty.tmp / "nope.pt", check=2)
    assert "nope.pt" in proc.stderr
    proc = ty.run("model", "register", "--name", "m", "--path", model, "--tag", "novalue",
                  check=2)
    assert "KEY=VALUE" in proc.stderr
    ty.run("model", "register", "--name", "m", "--path", model, check=0)

    proc = ty.run("model", "show", "m:5", check=2)
    assert "has no version 5 (versions: 1)" in proc.stderr
    proc = ty.run("model", "show", "zz", check=2)
    assert "no model named \"zz\"" in proc.stderr and "registered: m" in proc.stderr
    for verb in ("path", "download"):
        proc = ty.run("model", verb, "m:2", check=2)
        assert "has no version 2" in proc.stderr
    proc = ty.run("model", "show", "m:0", check=2)
    assert "positive integer" in proc.stderr
    assert ty.json("model", "list", "zz") == []  # a query: no versions of that name
    proc = ty.run("model", "list", "z/z", check=2)
    assert "model name" in proc.stderr
