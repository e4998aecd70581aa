"""azureml.train.hyperdrive.sampling: RandomParameterSampling, GridParameterSampling and
BayesianParameterSampling over a parameter space {name: expression}.

The hosted rules: grid sampling takes only `choice` (values int, float or str, all str or none);
Bayesian sampling takes only `choice`, `uniform` and `quniform` (quniform's arguments integers,
at most 100,000 points) and no early-termination policy (HyperDriveConfig refuses one).
RandomParameterSampling's `properties` may give {"seed": int, "rule": "random" | "sobol"}, the
sweep document's sampling_algorithm.seed / rule."""

from azureml.train.hyperdrive.exceptions import HyperDriveConfigException

__all__ = ["BayesianParameterSampling", "GridParameterSampling", "HyperParameterSampling",
           "RandomParameterSampling"]


def _distribution_name(name, expression):
    """The distribution of one parameter: the hosted expression ["uniform", [...]] or the YAML
    form {"type": "uniform", ...}."""
    if isinstance(expression, (list, tuple)) and len(expression) == 2 and isinstance(
            expression[0], str):
        return expression[0]
    if isinstance(expression, dict) and isinstance(expression.get("type"), str):
        return expression["type"]
    raise HyperDriveConfigException(
        "Invalid parameter_space: the value of {!r} must be a parameter expression (choice(...), "
        "uniform(...), ... from azureml.train.hyperdrive), got {!r}".format(name, expression))


def _arguments(expression):
    if isinstance(expression, dict):
        return expression
    return expression[1]


class HyperParameterSampling:
    """The base class: a sampling method's name, the parameter space and its properties."""

    def __init__(self, sampling_method_name, parameter_space, properties=None,
                 supported_distributions=None, distributions_validators=None):
        if not isinstance(parameter_space, dict) or not parameter_space:
            raise HyperDriveConfigException(
                "Invalid configuration: {} requires parameter_space to be a non-empty dict "
                "{{name: expression}}, got {!r}".format(type(self).__name__, parameter_space))
        if properties is not None and not isinstance(properties, dict):
            raise HyperDriveConfigException(
                "Invalid configuration: properties must be a dict, got {!r}".format(properties))
        self._sampling_method_name = sampling_method_name
        self._parameter_space = parameter_space
        self._properties = properties
        self._supported_distributions = supported_distributions
        self._distributions_validators = distributions_validators
        self._validate_supported_distributions()

    def _validate_supported_distributions(self):
        for name, expression in self._parameter_space.items():
            kind = _distribution_name(name, expression)
            if self._supported_distributions and kind not in self._supported_distributions:
                raise HyperDriveConfigException(
                    "Invalid configuration: this sampling method requires only the following "
                    "distributions: [{}]; {!r} is {}".format(
                        ", ".join(sorted(self._supported_distributions)), name, kind))
            validators = self._distributions_validators or {}
            if kind in validators:
                ok, message = validators[kind](expression)
                if not ok:
                    raise HyperDriveConfigException(
                        "Distribution validation failed for {!r}: {}".format(name, message))

    def to_json(self):
        """The hosted JSON form: {"name", "parameter_space", "properties"}."""
        definition = {"name": self._sampling_method_name,
                      "parameter_space": self._parameter_space}
        if self._properties:
            definition["properties"] = self._properties
        return definition

    def _trainyard_sampling(self):
        raise NotImplementedError(type(self).__name__)

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    @staticmethod
    def _choice_validator(choice_definition):
        if isinstance(choice_definition, dict):
            values = choice_definition.get("values")
        else:
            values = choice_definition[1][0] if choice_definition[1] else None
        if not values:
            return False, "At least one 'choice' value is required."
        for value in values:
            if type(value) not in (int, str, float):
                return False, "'choice' values should be 'int', 'string' or 'float'."
        strings = sum(isinstance(v, str) for v in values)
        if strings not in (0, len(values)):
            return False, "Either all or none of the 'choice' values should be 'str' type."
        return True, None


class RandomParameterSampling(HyperParameterSampling):
    """Random sampling over the parameter space (every distribution).
    `properties={"seed": 42, "rule": "sobol"}` sets the sweep's seed and rule."""

    SAMPLING_NAME = "RANDOM"

    def __init__(self, parameter_space, properties=None):
        super().__init__(RandomParameterSampling.SAMPLING_NAME, parameter_space, properties)
        for key in properties or {}:
            if str(key).lower() not in ("seed", "rule"):
                raise HyperDriveConfigException(
                    "Invalid configuration: RandomParameterSampling properties may give seed "
                    "and rule, got {!r}".format(key))

    def _trainyard_sampling(self):
        from trainyard.sweep import RandomSampling

        props = {str(k).lower(): v for k, v in (self._properties or {}).items()}
        rule = props.get("rule")
        return RandomSampling(seed=props.get("seed"),
                              rule=rule.lower() if isinstance(rule, str) else rule)


class GridParameterSampling(HyperParameterSampling):
    """Every combination of the `choice` values (only `choice` is allowed)."""

    SAMPLING_NAME = "GRID"

    def __init__(self, parameter_space):
        super().__init__(GridParameterSampling.SAMPLING_NAME, parameter_space,
                         supported_distributions={"choice"},
                         distributions_validators={"choice": self._choice_validator})

    def _trainyard_sampling(self):
        from trainyard.sweep import GridSampling

        return GridSampling()


class BayesianParameterSampling(HyperParameterSampling):
    """Bayesian optimization: only `choice`, `uniform` and `quniform`, and no early-termination
    policy."""

    SAMPLING_NAME = "BayesianOptimization"

    def __init__(self, parameter_space):
        if not parameter_space:
            raise HyperDriveConfigException(
                "Invalid configuration: BayesianParameterSampling requires parameter_space to "
                "not be None or empty.")
        super().__init__(BayesianParameterSampling.SAMPLING_NAME, parameter_space,
                         supported_distributions={"choice", "quniform", "uniform"},
                         distributions_validators={
                             "choice": self._choice_validator,
                             "quniform": self._bayesian_quniform_validator})

    @staticmethod
    def _bayesian_quniform_validator(quniform_definition):
        args = _arguments(quniform_definition)
        if isinstance(args, dict):
            args = [args.get("min_value"), args.get("max_value"), args.get("q")]
        if any(type(a) is not int for a in args):
            return False, "Expected quniform arguments to be int."
        low, high, q = args
        if (high - low) / q > 100000:
            return False, ("Too many discrete points for quniform distribution. Use larger q or "
                           "uniform instead.")
        return True, None

    def _trainyard_sampling(self):
        from trainyard.sweep import BayesianSampling

        return BayesianSampling()
