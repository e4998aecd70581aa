"""Outside trainyard the run is offline: values are printed and kept, nothing is an error."""

from script_runner import run_script


def test_offline_run_prints_and_keeps_values():
    result = run_script(
        """
        import math
        from trainyard import Run
        run = Run.get_context()
        assert run.offline and run.id.startswith("OfflineRun_"), run.id
        assert run.experiment.name == "offline"
        run.log("loss", 0.25)
        run.log("loss", 0.125, step=7)
        run.log("loss", float("nan"))
        run.log_list("acc", [0.5, 0.75])
        run.log_row("epochs", epoch=1, loss=0.5)
        run.log_table("table", {"a": [1, 2], "b": ["x", "y"]})
        run.tag("mode", "fast")
        run.set_tags({"a": 1, "b": None})
        run.add_properties({"commit": "abc"})
        run.flush()
        metrics = run.get_metrics()
        assert metrics["loss"][:2] == [0.25, 0.125] and math.isnan(metrics["loss"][2]), metrics
        assert metrics["acc"] == [0.5, 0.75]
        full = run.get_metrics("loss", full=True)
        assert [p["step"] for p in full] == [0, 7, 8], full
        assert full[0]["rank"] == 0 and full[0]["timestamp"] > 1.6e9
        assert run.get_tags() == {"mode": "fast", "a": "1", "b": None}, run.get_tags()
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok"
    assert "[trainyard offline] loss=0.25 (step 0)" in result.stderr
    assert "[trainyard offline] loss=0.125 (step 7)" in result.stderr
    assert "[trainyard offline] loss=nan (step 8)" in result.stderr
    assert '[trainyard offline] row epochs {"epoch":1,"loss":0.5} (step 0)' in result.stderr


def test_offline_quiet():
    result = run_script(
        """
        from trainyard import Run
        Run.get_context().log("loss", 1)
        assert Run.get_context().get_metrics() == {"loss": 1.0}  # logged once: the value itself
        """,
        env={"TRAINYARD_OFFLINE_QUIET": "1"},
    )
    assert result.stderr == ""
