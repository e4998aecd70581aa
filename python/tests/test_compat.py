"""Scripts written for the seed's service run unchanged (the azureml compatibility package)."""

from fake_endpoint import FakeEndpoint
from script_runner import run_script

SCRIPT = """
from azureml.core.run import Run
from azureml.core import Run as CoreRun
assert CoreRun is Run
run = Run.get_context()
run.log("accuracy", 0.9)
run.log("accuracy", 0.95, "description as the seed passes it")
run.log("lr", 0.1)
run.log_list("losses", [0.5, 0.4])
run.log_row("epochs", description="per epoch", epoch=1, loss=0.4)
run.log_table("table", {"a": [1]})
run.tag("framework", "pytorch")
run.set_tags({"x": "1"})
run.add_properties({"p": "v"})
metrics = run.get_metrics()
assert metrics["accuracy"] == [0.9, 0.95], metrics
assert metrics["lr"] == 0.1, metrics            # one value: the value itself, as in the seed
assert run.get_tags()["framework"] == "pytorch"
assert run.experiment.name
print(run.id)
run.complete()
"""


def test_compat_script_logs_through():
    endpoint = FakeEndpoint()
    try:
        result = run_script(SCRIPT, env=endpoint.env(run_id="compat-run"))
    finally:
        endpoint.close()
    assert result.stdout.strip() == "compat-run"
    assert [p[3] for p in endpoint.points["accuracy"]] == [0.9, 0.95]
    assert endpoint.rows[0] == ("epochs", 0, {"epoch": 1, "loss": 0.4})
    assert endpoint.tags == {"framework": "pytorch", "x": "1"}


def test_compat_script_offline():
    result = run_script(SCRIPT, env={"TRAINYARD_OFFLINE_QUIET": "1"})
    assert result.stdout.startswith("OfflineRun_")
