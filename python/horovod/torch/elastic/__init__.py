"""horovod.torch.elastic, provided by trainyard: the names import, but elastic training is not
supported (trainyard runs a fixed set of ranks; a rank that fails ends the run). Using any of
them raises NotImplementedError; see docs/horovod.md."""

_WHY = ("horovod.torch.elastic.{} is not supported by trainyard: runs have a fixed set of ranks "
        "and a failed rank ends the run (no rollback to a commit). Use hvd.init() with "
        "`horovodrun -np N` / `trainyard submit` and checkpoint to resume (docs/horovod.md)")


def run(*args, **kwargs):
    """Horovod's @hvd.elastic.run decorator: not supported, raises NotImplementedError."""
    raise NotImplementedError(_WHY.format("run"))


run._trainyard_not_supported = True


class TorchState:
    """Horovod's elastic state (model, optimizer, counters): not supported."""
    _trainyard_not_supported = True

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_WHY.format("TorchState"))


class ElasticSampler:
    """Horovod's elastic data sampler: not supported."""
    _trainyard_not_supported = True

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_WHY.format("ElasticSampler"))


__all__ = ["TorchState", "ElasticSampler", "run"]
