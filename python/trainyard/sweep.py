"""Hyperparameter sweeps from Python: `trainyard.Sweep` and its parts (issue 15).

    import trainyard
    from trainyard import sweep

    trial = trainyard.PyTorch(source_directory="examples/digits", entry_script="train.py",
                              script_params={"--epochs": 3})
    cfg = trainyard.Sweep(
        trial=trial,
        search_space={"--lr": sweep.loguniform(-6, -1), "--momentum": sweep.uniform(0.5, 0.99)},
        sampling=sweep.RandomSampling(seed=7),
        objective=sweep.Objective("accuracy", "maximize"),
        early_termination=sweep.BanditPolicy(slack_factor=0.1, evaluation_interval=1),
        limits=sweep.Limits(max_total_trials=20, max_concurrent_trials=4))
    cfg.fields            # the sweep document (a dict), the hosted CLI v2 sweep-job YAML shape
    run = trainyard.Experiment(ws, "digits").submit(cfg)

A Sweep is a job document of `type: sweep`
(https://learn.microsoft.com/azure/machine-learning/reference-yaml-job-sweep): `trial` (the job
document of an Estimator / PyTorch / Command, or of anything `Experiment.submit` takes, or a dict
in a job file's shape), `search_space` ({name: {type: uniform, min_value, max_value}, ...}),
`sampling_algorithm`, `objective`, `early_termination`, `limits`. Each trial receives its values as
arguments `--name value` ("--" added when the name has none) or through `${{search_space.NAME}}`
in a command. The whole document goes to the same C++ reader as `trainyard submit sweep.yml`.

The ten distribution functions return the YAML form (a dict); they also accept, in a search
space, the hosted SDK's `["uniform", [0.1, 0.5]]` form (azureml.train.hyperdrive's functions).
Problems raise ValueError (TypeError for a wrong kind of object) naming the field path.
See docs/sweeps-python.md.
"""

import json
import math
import os
import re
import warnings

__all__ = ["AshaPolicy", "BanditPolicy", "BayesianSampling", "EarlyTerminationPolicy",
           "GridSampling", "Limits", "MedianStoppingPolicy", "NoTerminationPolicy", "Objective",
           "RandomSampling", "SamplingAlgorithm", "Sweep", "TruncationSelectionPolicy", "choice",
           "lognormal", "loguniform", "normal", "qlognormal", "qloguniform", "qnormal",
           "quniform", "randint", "uniform"]

# Each distribution's fields, in the YAML's order (reference-yaml-job-sweep, "Parameter
# expressions").
DISTRIBUTIONS = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "loguniform": ("min_value", "max_value"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}


# ---- values ----

def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(where, value):
    if not _is_number(value):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    return value


def _integer(where, value, minimum=None):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: must be at least {minimum}, got {value}")
    return value


def _seconds(where, value):
    _number(where, value)
    if value <= 0:
        raise ValueError(f"{where}: must be a positive number of seconds, got {value!r}")
    return int(value) if float(value).is_integer() else value


# ---- the ten distributions (YAML form) ----

def choice(*values):
    """A discrete set of values to sample from: `choice(1, 2, 3)`, `choice([1, 2, 3])` or
    `choice(range(1, 4))`. Values are numbers, strings or booleans."""
    if len(values) == 1 and isinstance(values[0], (list, tuple, range)):
        values = values[0]
    return _checked_distribution("choice", {"type": "choice", "values": list(values)})


def randint(upper):
    """An integer in [0, upper)."""
    return _checked_distribution("randint", {"type": "randint", "upper": upper})


def uniform(min_value, max_value):
    """A real number drawn uniformly from [min_value, max_value]."""
    return _checked_distribution(
        "uniform", {"type": "uniform", "min_value": min_value, "max_value": max_value})


def quniform(min_value, max_value, q):
    """round(uniform(min_value, max_value) / q) * q."""
    return _checked_distribution("quniform", {"type": "quniform", "min_value": min_value,
                                              "max_value": max_value, "q": q})


def loguniform(min_value, max_value):
    """exp(uniform(min_value, max_value)): the bounds are those of the logarithm."""
    return _checked_distribution(
        "loguniform", {"type": "loguniform", "min_value": min_value, "max_value": max_value})


def qloguniform(min_value, max_value, q):
    """round(exp(uniform(min_value, max_value)) / q) * q."""
    return _checked_distribution("qloguniform", {"type": "qloguniform", "min_value": min_value,
                                                 "max_value": max_value, "q": q})


def normal(mu, sigma):
    """A real number drawn from the normal distribution of mean mu, standard deviation sigma."""
    return _checked_distribution("normal", {"type": "normal", "mu": mu, "sigma": sigma})


def qnormal(mu, sigma, q):
    """round(normal(mu, sigma) / q) * q."""
    return _checked_distribution("qnormal", {"type": "qnormal", "mu": mu, "sigma": sigma, "q": q})


def lognormal(mu, sigma):
    """exp(normal(mu, sigma)): mu and sigma are those of the logarithm."""
    return _checked_distribution("lognormal", {"type": "lognormal", "mu": mu, "sigma": sigma})


def qlognormal(mu, sigma, q):
    """round(exp(normal(mu, sigma)) / q) * q."""
    return _checked_distribution("qlognormal",
                                 {"type": "qlognormal", "mu": mu, "sigma": sigma, "q": q})


def _from_hosted(where, expression):
    """The YAML form of an azureml.train.hyperdrive expression: ["uniform", [0.1, 0.5]],
    ["choice", [[1, 2, 3]]], ["randint", [10]], ..."""
    name, args = expression[0], expression[1]
    if name not in DISTRIBUTIONS:
        raise ValueError(f"{where}: unknown distribution {name!r} (one of "
                         f"{', '.join(DISTRIBUTIONS)})")
    if not isinstance(args, (list, tuple)):
        raise ValueError(f"{where}: expected [{name!r}, [arguments]], got {list(expression)!r}")
    args = list(args)
    if name == "choice":
        values = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple, range)) else args
        return {"type": "choice", "values": list(values)}
    keys = DISTRIBUTIONS[name]
    if len(args) != len(keys):
        raise ValueError(f"{where}: {name} takes {len(keys)} arguments ({', '.join(keys)}), got "
                         f"{args!r}")
    return {"type": name, **dict(zip(keys, args))}


def _checked_distribution(where, spec):
    """`spec` (a dict of the YAML form, or the hosted list form) checked; a new dict with its
    fields in the YAML's order. ValueError naming `where` and the field."""
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and isinstance(spec[0], str):
        spec = _from_hosted(where, spec)
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a distribution (trainyard.sweep.uniform(...), "
                         f"{{'type': 'uniform', ...}} or azureml's uniform(...)), got {spec!r}")
    kind = spec.get("type")
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"{where}.type: expected one of {', '.join(DISTRIBUTIONS)}, got "
                         f"{kind!r}")
    keys = DISTRIBUTIONS[kind]
    unknown = [k for k in spec if k != "type" and k not in keys]
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: not a field of {kind} (its fields: "
                         f"{', '.join(keys)})")
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ValueError(f"{where}.{missing[0]}: required field of {kind} is missing")
    out = {"type": kind}
    if kind == "choice":
        values = spec["values"]
        if isinstance(values, (tuple, range)):
            values = list(values)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}.values: expected a non-empty list of values, got "
                             f"{values!r}")
        for i, value in enumerate(values):
            if not isinstance(value, (str, int, float, bool)):
                raise ValueError(f"{where}.values[{i}]: expected a number, string or boolean "
                                 f"(a trial receives it as one argument), got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{where}.values[{i}]: expected a finite number, got {value!r}")
        out["values"] = list(values)
        return out
    if kind == "randint":
        out["upper"] = _integer(f"{where}.upper", spec["upper"], minimum=1)
        return out
    for key in keys:
        out[key] = _number(f"{where}.{key}", spec[key])
    if "min_value" in out and not out["min_value"] < out["max_value"]:
        raise ValueError(f"{where}: min_value must be less than max_value, got "
                         f"{out['min_value']!r} and {out['max_value']!r}")
    if "sigma" in out and not out["sigma"] > 0:
        raise ValueError(f"{where}.sigma: must be positive, got {out['sigma']!r}")
    if "q" in out and not out["q"] > 0:
        raise ValueError(f"{where}.q: must be positive, got {out['q']!r}")
    return out


# ---- sampling algorithms ----

class SamplingAlgorithm:
    """Base of RandomSampling, GridSampling and BayesianSampling."""

    type = None

    def _to_document(self):
        return {"type": self.type}

    def __eq__(self, other):
        return type(self) is type(other) and self._to_document() == other._to_document()

    def __repr__(self):
        fields = {k: v for k, v in self._to_document().items() if k != "type"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


class RandomSampling(SamplingAlgorithm):
    """Independent draws (rule "random") or a scrambled Sobol sequence (rule "sobol"); `seed`
    makes the trials' parameters reproducible (None: chosen when the sweep is created)."""

    type = "random"

    def __init__(self, seed=None, rule=None):
        if seed is not None:
            seed = _integer("sampling_algorithm.seed", seed, minimum=0)
        if rule is not None and rule not in ("random", "sobol"):
            raise ValueError(f"sampling_algorithm.rule: expected 'random' or 'sobol', got "
                             f"{rule!r}")
        self.seed = seed
        self.rule = rule

    def _to_document(self):
        doc = {"type": "random"}
        if self.seed is not None:
            doc["seed"] = self.seed
        if self.rule is not None:
            doc["rule"] = self.rule
        return doc


class GridSampling(SamplingAlgorithm):
    """Every combination of the `choice` values, in order; every parameter must be a choice."""

    type = "grid"


class BayesianSampling(SamplingAlgorithm):
    """Model-based search: each trial's parameters are proposed from the results so far."""

    type = "bayesian"


_SAMPLINGS = {"random": RandomSampling, "grid": GridSampling, "bayesian": BayesianSampling}


def _sampling(value):
    if isinstance(value, SamplingAlgorithm):
        return value
    if isinstance(value, str):
        if value not in _SAMPLINGS:
            raise ValueError(f"sampling_algorithm: expected one of {', '.join(_SAMPLINGS)}, got "
                             f"{value!r}")
        return _SAMPLINGS[value]()
    if isinstance(value, dict):
        kind = value.get("type")
        if kind not in _SAMPLINGS:
            raise ValueError(f"sampling_algorithm.type: expected one of {', '.join(_SAMPLINGS)}, "
                             f"got {kind!r}")
        options = {k: v for k, v in value.items() if k != "type"}
        if kind != "random" and options:
            raise ValueError(f"sampling_algorithm.{next(iter(options))}: not a field of {kind} "
                             "sampling")
        unknown = [k for k in options if k not in ("seed", "rule")]
        if unknown:
            raise ValueError(f"sampling_algorithm.{unknown[0]}: not a field of random sampling "
                             "(seed, rule)")
        return _SAMPLINGS[kind](**options)
    raise TypeError(f"sampling: expected 'random', 'grid', 'bayesian', a dict or a "
                    f"trainyard.sweep.RandomSampling / GridSampling / BayesianSampling, got "
                    f"{value!r}")


# ---- objective and limits ----

class Objective:
    """The primary metric (the name the trials log) and whether to "maximize" or "minimize" it
    (also accepted: azureml's PrimaryMetricGoal.MAXIMIZE / MINIMIZE)."""

    def __init__(self, primary_metric, goal):
        if not isinstance(primary_metric, str) or not primary_metric:
            raise ValueError(f"objective.primary_metric: expected a non-empty metric name, got "
                             f"{primary_metric!r}")
        goal = getattr(goal, "value", goal)  # an enum such as PrimaryMetricGoal
        if not isinstance(goal, str) or goal.lower() not in ("maximize", "minimize"):
            raise ValueError(f"objective.goal: expected 'maximize' or 'minimize', got {goal!r}")
        self.primary_metric = primary_metric
        self.goal = goal.lower()

    def _to_document(self):
        return {"primary_metric": self.primary_metric, "goal": self.goal}

    def __eq__(self, other):
        return isinstance(other, Objective) and self._to_document() == other._to_document()

    def __repr__(self):
        return f"Objective(primary_metric={self.primary_metric!r}, goal={self.goal!r})"


def _objective(value):
    if isinstance(value, Objective):
        return value
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("primary_metric", "goal")]
        if unknown:
            raise ValueError(f"objective.{unknown[0]}: not a field of objective (primary_metric, "
                             "goal)")
        for key in ("primary_metric", "goal"):
            if key not in value:
                raise ValueError(f"objective.{key}: required field is missing")
        return Objective(value["primary_metric"], value["goal"])
    raise TypeError(f"objective: expected trainyard.sweep.Objective(primary_metric, goal) or "
                    f"{{'primary_metric': ..., 'goal': ...}}, got {value!r}")


class Limits:
    """max_total_trials, max_concurrent_trials (default: max_total_trials), timeout (the whole
    sweep, seconds), trial_timeout (each trial, seconds); what is not given is the C++ reader's
    default (the hosted ones: 1000 trials, 60 days)."""

    _FIELDS = ("max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout")

    def __init__(self, max_total_trials=None, max_concurrent_trials=None, timeout=None,
                 trial_timeout=None):
        self.max_total_trials = None if max_total_trials is None else _integer(
            "limits.max_total_trials", max_total_trials, minimum=1)
        self.max_concurrent_trials = None if max_concurrent_trials is None else _integer(
            "limits.max_concurrent_trials", max_concurrent_trials, minimum=1)
        self.timeout = None if timeout is None else _seconds("limits.timeout", timeout)
        self.trial_timeout = None if trial_timeout is None else _seconds("limits.trial_timeout",
                                                                         trial_timeout)

    def _to_document(self):
        return {k: getattr(self, k) for k in self._FIELDS if getattr(self, k) is not None}

    def __eq__(self, other):
        return isinstance(other, Limits) and self._to_document() == other._to_document()

    def __repr__(self):
        return f"Limits({', '.join(f'{k}={v!r}' for k, v in self._to_document().items())})"


def _limits(value):
    if value is None:
        return Limits()
    if isinstance(value, Limits):
        return value
    if isinstance(value, dict):
        unknown = [k for k in value if k not in Limits._FIELDS]
        if unknown:
            raise ValueError(f"limits.{unknown[0]}: not a field of limits "
                             f"({', '.join(Limits._FIELDS)})")
        return Limits(**value)
    raise TypeError(f"limits: expected trainyard.sweep.Limits(...) or a dict, got {value!r}")


# ---- early termination ----

class EarlyTerminationPolicy:
    """Base of the policies. Intervals count the primary metric's logged values: each time a
    trial logs it is one interval. A policy applies at every multiple of evaluation_interval
    that is at least delay_evaluation."""

    type = None

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        self.evaluation_interval = _integer("early_termination.evaluation_interval",
                                            evaluation_interval, minimum=1)
        self.delay_evaluation = _integer("early_termination.delay_evaluation", delay_evaluation,
                                         minimum=0)

    def _to_document(self):
        return {"type": self.type, "evaluation_interval": self.evaluation_interval,
                "delay_evaluation": self.delay_evaluation}

    def __eq__(self, other):
        return type(self) is type(other) and self._to_document() == other._to_document()

    def __repr__(self):
        fields = {k: v for k, v in (self._to_document() or {}).items() if k != "type"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


class BanditPolicy(EarlyTerminationPolicy):
    """Stops a trial whose primary metric, at an evaluation, is not within `slack_factor` (a
    ratio) or `slack_amount` (an absolute distance) of the best trial's; exactly one of the two."""

    type = "bandit"

    def __init__(self, evaluation_interval=1, slack_factor=None, slack_amount=None,
                 delay_evaluation=0):
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("early_termination: a bandit policy takes exactly one of "
                             "slack_factor and slack_amount")
        if slack_factor is not None:
            _number("early_termination.slack_factor", slack_factor)
            if not slack_factor > 0:
                raise ValueError(f"early_termination.slack_factor: must be positive (a ratio), "
                                 f"got {slack_factor!r}")
        if slack_amount is not None:
            _number("early_termination.slack_amount", slack_amount)
            if slack_amount < 0:
                raise ValueError(f"early_termination.slack_amount: must not be negative, got "
                                 f"{slack_amount!r}")
        super().__init__(evaluation_interval, delay_evaluation)
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount

    def _to_document(self):
        doc = super()._to_document()
        if self.slack_factor is not None:
            doc["slack_factor"] = self.slack_factor
        else:
            doc["slack_amount"] = self.slack_amount
        return doc


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stops a trial whose best primary metric so far is worse than the median of the trials'
    running averages up to the same interval."""

    type = "median_stopping"


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """At each evaluation, stops the `truncation_percentage` percent (1 to 99) of the trials that
    rank lowest on the primary metric at that interval."""

    type = "truncation_selection"

    def __init__(self, truncation_percentage, evaluation_interval=1, delay_evaluation=0):
        truncation_percentage = _integer("early_termination.truncation_percentage",
                                         truncation_percentage)
        if not 1 <= truncation_percentage <= 99:
            raise ValueError(f"early_termination.truncation_percentage: must be between 1 and "
                             f"99, got {truncation_percentage}")
        super().__init__(evaluation_interval, delay_evaluation)
        self.truncation_percentage = truncation_percentage

    def _to_document(self):
        doc = super()._to_document()
        doc["truncation_percentage"] = self.truncation_percentage
        return doc


class AshaPolicy(EarlyTerminationPolicy):
    """Asynchronous successive halving (not a hosted policy): rungs at grace_period *
    reduction_factor^k intervals of the primary metric, below max_t (None or 0: no limit); a
    trial continues past a rung only if it is in the top 1/reduction_factor of the trials that
    reached that rung. It takes no evaluation_interval or delay_evaluation."""

    type = "asha"

    def __init__(self, grace_period=1, reduction_factor=3, max_t=None):
        self.grace_period = _integer("early_termination.grace_period", grace_period, minimum=1)
        self.reduction_factor = _integer("early_termination.reduction_factor", reduction_factor,
                                         minimum=2)
        if max_t is not None:
            max_t = _integer("early_termination.max_t", max_t)
            if max_t != 0 and max_t < self.grace_period:
                raise ValueError(f"early_termination.max_t: must be 0 (no limit) or at least "
                                 f"grace_period ({self.grace_period}), got {max_t}")
        self.max_t = max_t

    def _to_document(self):
        doc = {"type": "asha", "grace_period": self.grace_period,
               "reduction_factor": self.reduction_factor}
        if self.max_t is not None:
            doc["max_t"] = self.max_t
        return doc


class NoTerminationPolicy(EarlyTerminationPolicy):
    """No early termination: every trial runs to its end (the same as early_termination=None)."""

    def __init__(self):
        pass

    def _to_document(self):
        return None


_POLICIES = {"bandit": BanditPolicy, "median_stopping": MedianStoppingPolicy,
             "truncation_selection": TruncationSelectionPolicy, "asha": AshaPolicy}


def _early_termination(value):
    if value is None or isinstance(value, EarlyTerminationPolicy):
        return value
    if isinstance(value, dict):
        kind = value.get("type")
        if kind not in _POLICIES:
            raise ValueError(f"early_termination.type: expected one of {', '.join(_POLICIES)}, "
                             f"got {kind!r}")
        options = {k: v for k, v in value.items() if k != "type"}
        try:
            return _POLICIES[kind](**options)
        except TypeError as e:
            raise ValueError(f"early_termination: {kind}: {e}") from None
    raise TypeError(f"early_termination: expected a trainyard.sweep policy (BanditPolicy, "
                    f"MedianStoppingPolicy, TruncationSelectionPolicy, AshaPolicy), a dict or "
                    f"None, got {value!r}")


# ---- the sweep ----

_NAME = re.compile(r"^-{0,2}[A-Za-z_][A-Za-z0-9_.-]*\Z")


def _trial(trial):
    """(document, base_dir) of the trial: a trainyard job configuration, anything
    Experiment.submit takes (an azureml ScriptRunConfig or estimator), or a dict in a job file's
    shape (relative paths resolve against the current folder)."""
    if isinstance(trial, dict):
        from trainyard.sdk import _plain

        return _plain(trial), os.getcwd()
    from trainyard.sdk import _as_config

    job = trial if isinstance(trial, Sweep) else _as_config(trial)
    if isinstance(job, Sweep):
        raise ValueError("trial: a sweep cannot be the trial of a sweep")
    return json.loads(job._document), job._base_dir


def _run_ids(runs):
    """resume_from: earlier sweeps, as run ids or runs (anything with an `id`)."""
    if isinstance(runs, str) or hasattr(runs, "id"):
        runs = [runs]
    if not isinstance(runs, (list, tuple)):
        raise ValueError(f"resume_from: expected earlier sweeps (run ids or runs), got {runs!r}")
    ids = []
    for i, run in enumerate(runs):
        run_id = run if isinstance(run, str) else getattr(run, "id", None)
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"resume_from[{i}]: expected a run id or a run, got {run!r}")
        ids.append(run_id)
    return ids


def _is_value(word):
    """Whether an argument after a flag is its value (not the next flag; "-0.5" is a value)."""
    if not word.startswith("-"):
        return True
    try:
        float(word)
        return True
    except ValueError:
        return False


def _drop_sampled_arguments(trial, names):
    """The trial's fixed arguments for a sampled parameter, removed with a warning, so that the
    sampled `--name value` is the only one the script sees: script_params entries (dashes
    ignored), as the hosted service does for an estimator, and `--name value` / `--name=value`
    in extra_args (a ScriptRunConfig's arguments), which come after script_params on the command
    line and would otherwise override the sampled value."""
    bare = {n.lstrip("-") for n in names}
    dropped = []
    out = dict(trial)
    params = trial.get("script_params")
    if isinstance(params, dict):
        keys = [k for k in params if isinstance(k, str) and k.lstrip("-") in bare]
        if keys:
            dropped += keys
            out["script_params"] = {k: v for k, v in params.items() if k not in keys}
    args = trial.get("extra_args")
    if isinstance(args, list):
        kept, i = [], 0
        while i < len(args):
            word = args[i]
            flag = word.split("=", 1)[0] if isinstance(word, str) else None
            if flag and flag.startswith("-") and flag.lstrip("-") in bare:
                if "=" in word:
                    dropped.append(word)
                    i += 1
                    continue
                if (i + 1 < len(args) and isinstance(args[i + 1], str) and
                        _is_value(args[i + 1])):
                    dropped.append(f"{word} {args[i + 1]}")
                    i += 2
                    continue
                dropped.append(word)
                i += 1
                continue
            kept.append(word)
            i += 1
        if len(kept) != len(args):
            out["extra_args"] = kept
    if not dropped:
        return trial
    warnings.warn("The same input parameter(s) are given in the trial's arguments and in the "
                  f"search space; the search space's values replace them: {dropped}",
                  stacklevel=3)
    return out


class Sweep:
    """A sweep configuration: `Experiment.submit(sweep)` starts it.

    trial: the job each trial runs: trainyard.Estimator / PyTorch / Command (or an azureml
        ScriptRunConfig or estimator), or a dict in a job file's shape (needed while a command
        with `${{search_space.NAME}}` is not accepted by trainyard.Command on its own).
    search_space: {name: distribution}; a name may be "--lr" or "lr" (trials get `--lr VALUE`
        either way). Distributions: trainyard.sweep.uniform(...) etc., a dict of the YAML form, or
        azureml.train.hyperdrive's expressions.
    sampling: "random" | "grid" | "bayesian", a RandomSampling(seed, rule) / GridSampling() /
        BayesianSampling(), or a dict {type: random, seed, rule}.
    objective: Objective(primary_metric, goal) or {primary_metric, goal}.
    early_termination: BanditPolicy / MedianStoppingPolicy / TruncationSelectionPolicy /
        AshaPolicy, a dict {type: bandit, ...}, or None.
    limits: Limits(max_total_trials, max_concurrent_trials, timeout, trial_timeout) or a dict
        (the reader's defaults, the hosted ones: 1000 trials, all at once, 60 days).
    experiment_name, name, display_name, description, tags, properties: the sweep run's.
    resume_from: earlier sweeps (run ids or runs) whose finished trials seed this one.

    `fields` is the document (a dict). Checked at construction, here and then by the C++ reader
    (as `trainyard submit sweep.yml` checks the file): ValueError naming the field path.
    """

    def __init__(self, trial, search_space, sampling, objective, early_termination=None,
                 limits=None, *, experiment_name=None, name=None, display_name=None,
                 description=None, tags=None, properties=None, resume_from=None):
        self._origin = "<Sweep>"
        trial_doc, self._base_dir = _trial(trial)
        if not isinstance(search_space, dict) or not search_space:
            raise ValueError(f"search_space: expected a non-empty dict {{name: distribution}}, "
                             f"got {search_space!r}")
        space = {}
        for key, spec in search_space.items():
            if not isinstance(key, str) or not _NAME.match(key):
                raise ValueError(f"search_space: {key!r} is not a parameter name (letters, "
                                 "digits, '_', '-', '.', optionally after '-' or '--')")
            if key.lstrip("-") in {n.lstrip("-") for n in space}:
                raise ValueError(f"search_space.{key}: the parameter is given twice (with and "
                                 "without dashes)")
            space[key] = _checked_distribution(f"search_space.{key}", spec)
        self.sampling = _sampling(sampling)
        self.objective = _objective(objective)
        self.early_termination = _early_termination(early_termination)
        self.limits = _limits(limits)

        if isinstance(self.sampling, GridSampling):
            for key, spec in space.items():
                if spec["type"] != "choice":
                    raise ValueError(f"search_space.{key}: grid sampling takes only choice "
                                     f"parameters, got {spec['type']}")

        self.trial = _drop_sampled_arguments(trial_doc, list(space))
        self.search_space = space
        document = {"type": "sweep", "trial": self.trial, "search_space": space,
                    "sampling_algorithm": self.sampling._to_document(),
                    "objective": self.objective._to_document()}
        policy = (self.early_termination._to_document()
                  if self.early_termination is not None else None)
        if policy is not None:
            document["early_termination"] = policy
        limits_doc = self.limits._to_document()
        if limits_doc:
            document["limits"] = limits_doc
        for key, value in (("experiment_name", experiment_name), ("name", name),
                           ("display_name", display_name), ("description", description)):
            if value is not None:
                if not isinstance(value, str):
                    raise ValueError(f"{key}: expected a string, got {value!r}")
                document[key] = value
        for key, pairs in (("tags", tags), ("properties", properties)):
            if pairs is not None:
                if not isinstance(pairs, dict):
                    raise ValueError(f"{key}: expected a dict, got {pairs!r}")
                document[key] = {str(k): "" if v is None else str(v) for k, v in pairs.items()}
        if resume_from is not None:
            document["resume_from"] = _run_ids(resume_from)
        self.fields = document
        self._document = json.dumps(document, allow_nan=False)
        self.validate()  # the C++ reader's check, as for every job configuration

    def _to_trainyard(self):
        return self

    def validate(self):
        """Validates the whole document with the C++ reader, as `trainyard submit sweep.yml`
        does; ValueError with its messages and field paths."""
        from trainyard.sdk import _sdk

        _sdk().check_job(self._document, self._origin, self._base_dir)

    def dry_run(self, workspace=None, experiment="default"):
        """The plan `trainyard submit --dry-run --json` prints for this document."""
        from trainyard.sdk import Workspace

        ws = workspace if workspace is not None else Workspace()
        exp = ws._ws.experiment(experiment)
        return json.loads(exp.plan(self._document, self._origin, self._base_dir))

    def __repr__(self):
        return f"Sweep({self.fields!r})"
