"""horovod.runner, provided by trainyard. Launching is done by `horovodrun` / `trainyard submit`
(a recorded run); Horovod's in-process launcher API, horovod.runner.run(func, np=...), is not
supported. horovod.runner.util.threads is provided."""


def run(func, args=(), kwargs=None, np=1, *more, **options):
    """Not supported by trainyard: raises NotImplementedError (see the module docstring)."""
    raise NotImplementedError(
        "horovod.runner.run (launching a function on N processes from Python) is not supported "
        "by trainyard; launch the script with `horovodrun -np N python train.py` or "
        "`trainyard submit` (docs/horovod.md)")


run._trainyard_not_supported = True
