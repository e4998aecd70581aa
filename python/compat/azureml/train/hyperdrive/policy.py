"""azureml.train.hyperdrive.policy: the early-termination policies, as trainyard.sweep's policies
with the hosted constructors, type checks (HyperDriveConfigException) and `to_json()` form.

In the sweep document: BanditPolicy -> early_termination {type: bandit, evaluation_interval,
delay_evaluation, slack_factor | slack_amount}; MedianStoppingPolicy -> {type: median_stopping,
...}; TruncationSelectionPolicy -> {type: truncation_selection, truncation_percentage, ...};
NoTerminationPolicy -> no early_termination."""

from trainyard import sweep as _sweep

from azureml.train.hyperdrive.exceptions import HyperDriveConfigException

__all__ = ["BanditPolicy", "EarlyTerminationPolicy", "MedianStoppingPolicy",
           "NoTerminationPolicy", "TruncationSelectionPolicy"]


def _require_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise HyperDriveConfigException(
            "Invalid type: {} is expected to be of type int, got {!r}".format(name, value))


def _hosted(build):
    """Runs trainyard's constructor; its ValueError/TypeError becomes HyperDriveConfigException."""
    try:
        build()
    except (ValueError, TypeError) as e:
        if isinstance(e, HyperDriveConfigException):
            raise
        raise HyperDriveConfigException(str(e)) from None


class EarlyTerminationPolicy(_sweep.EarlyTerminationPolicy):
    """The base class of the hosted policies: `to_json()` gives {"name", "properties"}."""

    POLICY_NAME = None

    def _properties(self):
        return {"evaluation_interval": self.evaluation_interval,
                "delay_evaluation": self.delay_evaluation}

    def to_json(self):
        """The hosted JSON form of the policy."""
        policy = {"name": self.POLICY_NAME}
        properties = self._properties()
        if properties is not None:
            policy["properties"] = properties
        return policy


class BanditPolicy(EarlyTerminationPolicy, _sweep.BanditPolicy):
    """Stops runs whose primary metric is not within slack_factor (a ratio) or slack_amount (an
    absolute distance) of the best run's; exactly one of the two."""

    POLICY_NAME = "Bandit"

    def __init__(self, evaluation_interval=1, slack_factor=None, slack_amount=None,
                 delay_evaluation=0):
        if (slack_factor is None) == (slack_amount is None):
            raise HyperDriveConfigException(
                "Invalid configuration: Bandit termination policy requires exactly one of slack "
                "factor or slack amount to be set.")
        _require_int("evaluation_interval", evaluation_interval)
        _require_int("delay_evaluation", delay_evaluation)
        _hosted(lambda: _sweep.BanditPolicy.__init__(
            self, evaluation_interval=evaluation_interval, slack_factor=slack_factor,
            slack_amount=slack_amount, delay_evaluation=delay_evaluation))

    def _properties(self):
        properties = super()._properties()
        if self.slack_factor is not None:
            properties["slack_factor"] = self.slack_factor
        else:
            properties["slack_amount"] = self.slack_amount
        return properties


class MedianStoppingPolicy(EarlyTerminationPolicy, _sweep.MedianStoppingPolicy):
    """Stops runs whose best primary metric is worse than the median of the running averages."""

    POLICY_NAME = "MedianStopping"

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        _require_int("evaluation_interval", evaluation_interval)
        _require_int("delay_evaluation", delay_evaluation)
        _hosted(lambda: _sweep.MedianStoppingPolicy.__init__(
            self, evaluation_interval=evaluation_interval, delay_evaluation=delay_evaluation))


class TruncationSelectionPolicy(EarlyTerminationPolicy, _sweep.TruncationSelectionPolicy):
    """Cancels the truncation_percentage percent (1 to 99) lowest-ranked runs at each
    evaluation."""

    POLICY_NAME = "TruncationSelection"

    def __init__(self, truncation_percentage, evaluation_interval=1, delay_evaluation=0):
        _require_int("truncation_percentage", truncation_percentage)
        if not 1 <= truncation_percentage <= 99:
            raise HyperDriveConfigException(
                "Invalid configuration: truncation_percentage requires value to be between 1 "
                "and 99, got {}.".format(truncation_percentage))
        _require_int("evaluation_interval", evaluation_interval)
        _require_int("delay_evaluation", delay_evaluation)
        _hosted(lambda: _sweep.TruncationSelectionPolicy.__init__(
            self, truncation_percentage, evaluation_interval=evaluation_interval,
            delay_evaluation=delay_evaluation))

    def _properties(self):
        properties = super()._properties()
        properties["truncation_percentage"] = self.truncation_percentage
        properties["exclude_finished_jobs"] = False
        return properties


class NoTerminationPolicy(EarlyTerminationPolicy, _sweep.NoTerminationPolicy):
    """No early termination: every run executes until it ends."""

    POLICY_NAME = "Default"

    def __init__(self):
        pass

    def _properties(self):
        return None
