"""azureml.telemetry under trainyard: diagnostics collection is a setting that sends nothing.

`set_diagnostics_collection(send_diagnostics=True)` (the first cell of the hosted SDK's notebooks)
prints what the hosted SDK prints and records the choice, in memory and, when `path` is given, in
that JSON file as the hosted SDK writes it; `get_diagnostics_collection_info()` reads it back.
Nothing is ever sent anywhere: trainyard has no telemetry.
"""

import json
import logging
import threading

__all__ = ["get_diagnostics_collection_info", "is_diagnostics_collection_info_available",
           "set_diagnostics_collection"]

SEND_DIAGNOSTICS_KEY = "send_diagnostics"
DIAGNOSTICS_VERBOSITY_KEY = "diagnostics_verbosity"

_lock = threading.Lock()
_setting = {}


def set_diagnostics_collection(send_diagnostics=True, verbosity=logging.INFO, reason="",
                               path=None):
    """Records the choice; sends nothing. Prints the hosted SDK's line when turned on, and that
    trainyard sends nothing."""
    with _lock:
        _setting[SEND_DIAGNOSTICS_KEY] = bool(send_diagnostics)
        _setting[DIAGNOSTICS_VERBOSITY_KEY] = logging.getLevelName(verbosity)
        if path is not None:
            try:
                try:
                    with open(path, encoding="utf-8") as f:
                        config = json.load(f)
                except (OSError, ValueError):
                    config = {}
                config.update(_setting)
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(config, f, indent=4)
            except OSError as e:
                print(f"Could not write the config file to: {path}\n{e}")
                return
    if send_diagnostics:
        print(f"Turning diagnostics collection on. {reason}")
        print("(trainyard: no diagnostics are collected or sent; the setting is only recorded)")


def get_diagnostics_collection_info(component_name=None, path=None, proceed_in_hbi_mode=False):
    """(send_diagnostics, verbosity) as last set (from `path` when given), the hosted SDK's
    shape; (False, "NOTSET") before any set."""
    with _lock:
        config = dict(_setting)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError):
            config = {}
    verbosity = config.get(DIAGNOSTICS_VERBOSITY_KEY, logging.getLevelName(logging.NOTSET))
    send = config.get(SEND_DIAGNOSTICS_KEY, False)
    if send and component_name:
        return config.get(component_name), verbosity
    return bool(send), verbosity


def is_diagnostics_collection_info_available():
    """Whether the choice was set in this process."""
    with _lock:
        return SEND_DIAGNOSTICS_KEY in _setting
