"""azureml.train.hyperdrive.parameter_expressions: the ten functions that describe a search space.

Each returns the hosted SDK's stochastic expression, a list such as ["uniform", [0.05, 0.1]] or
["choice", [[16, 32, 64]]], and checks its arguments as the hosted functions do
(HyperDriveConfigException). trainyard.Sweep turns them into the YAML form ({type: uniform,
min_value: 0.05, max_value: 0.1}) and applies the sweep reader's rules there (for instance
loguniform's bounds must differ, sigma must be positive): docs/sweeps-python.md."""

from azureml.train.hyperdrive.exceptions import HyperDriveConfigException

__all__ = ["choice", "lognormal", "loguniform", "normal", "qlognormal", "qloguniform", "qnormal",
           "quniform", "randint", "uniform"]


def _require(condition, obj, requirement):
    if not condition:
        raise HyperDriveConfigException("Invalid configuration: {} requires {}".format(
            obj, requirement))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_q(value):
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())


def choice(*options):
    """A discrete set of options: choice(1, 2, 3), choice([1, 2, 3]) or choice(range(1, 4))."""
    _require(len(options) > 0, "choice", "at least one option")
    for item in options:
        if isinstance(item, (list, range)):
            _require(len(options) == 1 and len(item) > 0, "choice",
                     "a non-empty single list, a non-empty single range() or a positive number "
                     "of comma separated options")
            return ["choice", [list(item)]]
    return ["choice", [list(options)]]


def randint(upper):
    """An integer in [0, upper)."""
    _require(isinstance(upper, int) and not isinstance(upper, bool) and upper > 0, "randint",
             "a positive integer upper")
    return ["randint", [upper]]


def _bounds(name, min_value, max_value, strict):
    _require(_is_number(min_value), name, "min_value to be a float")
    _require(_is_number(max_value), name, "max_value to be a float")
    if strict:
        _require(min_value < max_value, name, "min_value < max_value")
    else:
        _require(min_value <= max_value, name, "min_value <= max_value")


def _normal(name, mu, sigma):
    _require(_is_number(mu), name, "mu to be a float")
    _require(_is_number(sigma), name, "sigma to be a float")
    _require(sigma >= 0, name, "sigma to be non negative")


def uniform(min_value, max_value):
    """A real value drawn uniformly between min_value and max_value (inclusive)."""
    _bounds("uniform", min_value, max_value, strict=True)
    return ["uniform", [min_value, max_value]]


def quniform(min_value, max_value, q):
    """round(uniform(min_value, max_value) / q) * q."""
    _require(_is_number(min_value), "quniform", "min_value to be a float")
    _require(_is_number(max_value), "quniform", "max_value to be a float")
    _require(_is_q(q), "quniform", "q to be an int")
    _require(min_value < max_value, "quniform", "min_value < max_value")
    return ["quniform", [min_value, max_value, q]]


def loguniform(min_value, max_value):
    """exp(uniform(min_value, max_value)): the value lies in [exp(min_value), exp(max_value)]."""
    _bounds("loguniform", min_value, max_value, strict=False)
    return ["loguniform", [min_value, max_value]]


def qloguniform(min_value, max_value, q):
    """round(exp(uniform(min_value, max_value)) / q) * q."""
    _require(_is_number(min_value), "qloguniform", "min_value to be a float")
    _require(_is_number(max_value), "qloguniform", "max_value to be a float")
    _require(_is_q(q), "qloguniform", "q to be an int")
    _require(min_value <= max_value, "qloguniform", "min_value <= max_value")
    return ["qloguniform", [min_value, max_value, q]]


def normal(mu, sigma):
    """A real value normally distributed with mean mu and standard deviation sigma."""
    _normal("normal", mu, sigma)
    return ["normal", [mu, sigma]]


def qnormal(mu, sigma, q):
    """round(normal(mu, sigma) / q) * q."""
    _require(_is_number(mu), "qnormal", "mu to be a float")
    _require(_is_number(sigma), "qnormal", "sigma to be a float")
    _require(_is_q(q), "qnormal", "q to be an int")
    _require(sigma >= 0, "qnormal", "sigma to be non negative")
    return ["qnormal", [mu, sigma, q]]


def lognormal(mu, sigma):
    """exp(normal(mu, sigma)): the logarithm of the value is normally distributed."""
    _normal("lognormal", mu, sigma)
    return ["lognormal", [mu, sigma]]


def qlognormal(mu, sigma, q):
    """round(exp(normal(mu, sigma)) / q) * q."""
    _require(_is_number(mu), "qlognormal", "mu to be a float")
    _require(_is_number(sigma), "qlognormal", "sigma to be a float")
    _require(_is_q(q), "qlognormal", "q to be an int")
    _require(sigma >= 0, "qlognormal", "sigma to be non negative")
    return ["qlognormal", [mu, sigma, q]]
