"""Bad names and values fail at the call with ValueError naming the metric."""

import os

import pytest

for _var in [v for v in os.environ if v.startswith("TRAINYARD_")]:
    del os.environ[_var]
os.environ["TRAINYARD_OFFLINE_QUIET"] = "1"

from trainyard import Run  # noqa: E402


@pytest.fixture(scope="module")
def run():
    return Run.get_context()


def test_get_context_is_a_singleton(run):
    assert Run.get_context() is run


@pytest.mark.parametrize("name", ["a\tb", "a\nb", "", "x" * 256])
def test_bad_names(run, name):
    with pytest.raises(ValueError, match="metric name"):
        run.log(name, 1.0)


@pytest.mark.parametrize("name", [1, None, b"loss"])
def test_names_must_be_str(run, name):
    with pytest.raises(ValueError, match="metric name must be a str"):
        run.log(name, 1.0)


@pytest.mark.parametrize("value", ["1.0", b"1", None, [1.0], {"a": 1}, object(), 1j])
def test_bad_values_name_the_metric(run, value):
    with pytest.raises(ValueError, match="metric 'loss': value must be a number"):
        run.log("loss", value)


def test_numbers_of_every_kind(run):
    np = pytest.importorskip("numpy")
    run.log("kinds", True)
    run.log("kinds", 3)
    run.log("kinds", 2**70)
    run.log("kinds", np.float32(0.5))
    run.log("kinds", np.int64(4))
    values = run.get_metrics("kinds")["kinds"]
    assert values == [1.0, 3.0, float(2**70), 0.5, 4.0]


def test_torch_scalars(run):
    torch = pytest.importorskip("torch")
    run.log("torch", torch.tensor(1.5))
    run.log("torch", torch.tensor([2.5]))
    with pytest.raises(ValueError, match="metric 'torch'"):
        run.log("torch", torch.tensor([1.0, 2.0]))
    assert run.get_metrics("torch") == {"torch": [1.5, 2.5]}


def test_bad_steps(run):
    with pytest.raises(ValueError, match="step must be an integer"):
        run.log("s", 1.0, step=1.5)
    run.log("s", 1.0, step=3)


def test_rows_and_tables(run):
    with pytest.raises(ValueError, match="row 'r': column 'a' must be"):
        run.log_row("r", a=[1, 2])
    with pytest.raises(ValueError, match="column 'b' has 1 values"):
        run.log_table("t", {"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="table 't': column 'a' must be a list"):
        run.log_table("t", {"a": "xy"})
    with pytest.raises(ValueError, match="1025 columns; at most 1024"):
        run.log_row("wide", **{f"c{i}": i for i in range(1025)})
    run.log_row("wide", **{f"c{i}": i for i in range(1024)})
    run.log_row("r", name="a column called name")


def test_tags_and_files(run, tmp_path):
    with pytest.raises(ValueError, match="tag key"):
        run.tag("a\tb", "v")
    with pytest.raises(ValueError, match="tag key"):
        run.set_tags({"ok": "1", "bad\n": "2"})
    assert "ok" not in run.get_tags()  # all or nothing
    with pytest.raises(RuntimeError, match="no such file"):
        run.upload_file("x", tmp_path / "missing")
    with pytest.raises(ValueError, match="upload_file name"):
        run.upload_file("../x", __file__)
    (tmp_path / "not.png").write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="is not a PNG file"):
        run.log_image("img", path=tmp_path / "not.png")
    with pytest.raises(ValueError, match="exactly one of"):
        run.log_image("img")
