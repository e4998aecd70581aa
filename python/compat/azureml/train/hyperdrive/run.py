"""azureml.train.hyperdrive.run: HyperDriveRun, the run of a sweep.

A sweep is a trainyard run of kind "sweep" whose controller creates its trials: runs of the same
experiment that name the sweep as their parent (details' "parent_id", "trial_index") and record
their sampled values (runDefinition's "search_space_values"). The sweep's own document (its
objective: primary metric and goal) is its runDefinition. HyperDriveRun reads those through the
SDK: the children, their hyperparameters and metrics, the best one, the children sorted by their
best primary metric (the best of the values each logged, for the goal)."""

import math

from azureml.core.run import Run

__all__ = ["HyperDriveRun"]


def _value(text):
    """A recorded parameter value (text) as the number it spells, else the text."""
    for convert in (int, float):
        try:
            return convert(text)
        except (TypeError, ValueError):
            pass
    return text


def _numbers(value):
    values = value if isinstance(value, list) else [value]
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)]


class HyperDriveRun(Run):
    """`HyperDriveRun(experiment, run_id, hyperdrive_config=None)`: a handle on a sweep's run."""

    RUN_TYPE = "hyperdrive"
    HYPER_DRIVE_RUN_USER_AGENT = "sdk_run_hyper_drive"

    def __init__(self, experiment, run_id, hyperdrive_config=None, **kwargs):
        super().__init__(experiment, run_id, **kwargs)
        self._hyperdrive_config = hyperdrive_config

    @property
    def type(self):
        return self.RUN_TYPE

    @property
    def hyperdrive_config(self):
        """The HyperDriveConfig the run was created from (when this handle was given it)."""
        if self._hyperdrive_config is None:
            raise NotImplementedError(
                "HyperDriveRun.hyperdrive_config: trainyard does not rebuild a HyperDriveConfig "
                "from a recorded sweep; read the sweep's document with `trainyard show {} "
                "--json` (its spec) or run.get_details()['runDefinition']".format(self.id))
        return self._hyperdrive_config

    # ---- the sweep and its trials ----

    def _definition(self):
        details = self.get_details()
        if details.get("trainyard", {}).get("kind") != "sweep":
            raise ValueError("HyperDriveRun {}: this run is not a sweep (kind {!r}); submit a "
                             "HyperDriveConfig to get one".format(
                                 self.id, details.get("trainyard", {}).get("kind")))
        return details.get("runDefinition") or {}

    def _objective(self):
        objective = self._definition().get("objective") or {}
        return objective.get("primary_metric"), objective.get("goal", "maximize")

    def _trials(self):
        """[(index, details, run)] of the sweep's trials, in creation order."""
        self._definition()  # a sweep, else ValueError
        found = []
        for run in self.experiment.get_runs():
            details = run.get_details()
            record = details.get("trainyard", {})
            if record.get("parent_id") == self.id:
                found.append((record.get("trial_index"), details, run))
        found.sort(key=lambda t: (t[0] is None, t[0] or 0))
        return found

    def get_children(self, recursive=False, tags=None, properties=None, type=None,  # noqa: A002
                     status=None, _rehydrate_runs=True):
        """The sweep's trials (azureml.core.Run), in creation order."""
        from azureml.core.experiment import _matches

        for _, details, run in self._trials():
            if status is not None and details.get("status") != status:
                continue
            if tags is not None and not _matches(run.get_tags(), tags):
                continue
            if properties is not None and not _matches(run.get_properties(), properties):
                continue
            yield run

    def get_hyperparameters(self):
        """{child run id: {parameter: value}} for every trial."""
        return {run.id: {k: _value(v) for k, v in
                         (details.get("runDefinition") or {}).get("search_space_values",
                                                                  {}).items()}
                for _, details, run in self._trials()}

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """{child run id: its metrics (get_metrics() of the trial)} for every trial."""
        return {run.id: run.get_metrics(name) for _, _, run in self._trials()}

    def _ranked(self, include_failed=True, include_canceled=True):
        """[(best or None, index, details, run)]: each trial's best primary metric for the goal."""
        metric, goal = self._objective()
        ranked = []
        for index, details, run in self._trials():
            status = details.get("status")
            if (status == "Failed" and not include_failed) or (
                    status == "Canceled" and not include_canceled):
                continue
            values = _numbers(run.get_metrics(metric).get(metric, [])) if metric else []
            best = (max(values) if goal == "maximize" else min(values)) if values else None
            ranked.append((best, index, details, run))
        return ranked, goal

    @staticmethod
    def _best_first(ranked, goal):
        """The trials that logged the primary metric, best first (ties: the earlier trial)."""
        sign = -1 if goal == "maximize" else 1
        return sorted((r for r in ranked if r[0] is not None),
                      key=lambda r: (sign * r[0], r[1] if r[1] is not None else 0))

    def get_children_sorted_by_primary_metric(self, top=0, reverse=False,
                                              discard_no_metric=False):
        """[{run_id, hyperparameters, best_primary_metric, status}], best first for the goal
        (reverse=True: worst first); trials that logged no primary metric come last (or are
        left out with discard_no_metric); top > 0 keeps the first `top`."""
        ranked, goal = self._ranked()
        rows = self._best_first(ranked, goal)
        if reverse:
            rows.reverse()
        if not discard_no_metric:
            rows += [r for r in ranked if r[0] is None]
        out = [{"run_id": run.id,
                "hyperparameters": {k: _value(v) for k, v in
                                    (details.get("runDefinition") or {}).get(
                                        "search_space_values", {}).items()},
                "best_primary_metric": best,
                "status": details.get("status")} for best, _, details, run in rows]
        return out[:top] if top and top > 0 else out

    def get_best_run_by_primary_metric(self, include_failed=True, include_canceled=True,
                                       include_resume_from_runs=False):
        """The trial (azureml.core.Run) with the best primary metric for the goal (ties: the
        earlier trial), or None when no trial logged it. Earlier sweeps' trials (resume_from) are
        not children of this one and are not considered."""
        ranked, goal = self._ranked(include_failed, include_canceled)
        rows = self._best_first(ranked, goal)
        return rows[0][3] if rows else None

    def get_diagnostics(self):
        raise NotImplementedError(
            "HyperDriveRun.get_diagnostics: trainyard keeps no diagnostics archive; the sweep's "
            "controller log is supervisor.log in its run folder (`trainyard show {}`)".format(
                self.id))

    def fail(self, error_details=None, error_code=None, _set_status=True):
        """Not supported for a HyperDriveRun (as hosted)."""
        raise NotImplementedError(
            "HyperDriveRun.fail: trainyard records a run's end itself; cancel the sweep with "
            "run.cancel() (`trainyard cancel {}`)".format(self.id))
