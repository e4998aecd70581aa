"""Internal: classes of the hosted SDK that trainyard does not have; every use raises
NotImplementedError naming the trainyard way."""


class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotImplementedError("{}.{}: {}".format(cls.__name__, name, cls._how))


def refused(name, how):
    """A class whose construction and every class attribute raise NotImplementedError."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("{}: {}".format(name, how))

    return _Meta(name, (), {"__init__": __init__, "_how": how})
