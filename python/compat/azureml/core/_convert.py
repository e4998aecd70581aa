"""Internal: turning hosted-SDK values into trainyard job fields (shared by ScriptRunConfig and
azureml.train's estimators).

- a data reference (anything with `_trainyard_input()`: DataReference, a Datastore) becomes an
  input under a generated name and the argument `${{inputs.NAME}}` (docs/sdk.md);
- other values become their str() (True -> "True", as the hosted SDK passes them);
- a compute target is a ComputeTarget (its name), a str, or None ("local").
"""

import os
import re

__all__ = ["argument", "arguments", "compute_target_name"]


def _identifier(text):
    name = re.sub(r"[^A-Za-z0-9_]", "_", text.lstrip("-")).strip("_")
    return None if not name else ("input_" + name if name[0].isdigit() else name)


def argument(value, inputs, flag=None):
    """`value` as one argv word; a data reference is added to `inputs` (a dict, changed) under
    the name of the flag before it (`--data-folder` -> inputs.data_folder), else its own."""
    if hasattr(value, "_trainyard_input"):
        doc = value._trainyard_input()
        base = (_identifier(flag) if flag else None) or (
            value._trainyard_input_name() if hasattr(value, "_trainyard_input_name") else "data")
        name, n = base, 1
        while name in inputs and inputs[name] != doc:
            n += 1
            name = "{}_{}".format(base, n)
        inputs[name] = doc
        return "${{inputs.%s}}" % name
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple, dict, set)):
        raise ValueError("argument {!r}: expected a single value (str, number, bool or a data "
                         "reference), got a {}".format(value, type(value).__name__))
    return str(value)


def arguments(values, inputs):
    """A list of arguments as argv words, in order; a data reference after a flag ("--data")
    is named after the flag."""
    out, previous = [], None
    for v in values or []:
        flag = previous if isinstance(previous, str) and previous.startswith("-") else None
        out.append(argument(v, inputs, flag))
        previous = v
    return out


def compute_target_name(compute_target):
    """None/"local" -> None (trainyard's local target); a ComputeTarget -> its name."""
    if compute_target is None:
        return None
    name = compute_target if isinstance(compute_target, str) else getattr(
        compute_target, "name", None)
    if not isinstance(name, str):
        raise ValueError("compute_target: expected a ComputeTarget, a target name or 'local', "
                         "got {!r}".format(compute_target))
    return None if name == "local" else name
