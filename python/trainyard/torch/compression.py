"""Gradient compression for communication (horovod.torch.Compression).

Compression.none and Compression.fp16 are trainyard::dist's Compression (the DistributedOptimizer
runs them in C++; the functions below call the same code). A Compressor subclass of one's own
works too: DistributedOptimizer calls its compress/decompress from the gradient hooks."""

from trainyard import _collective as _c


class Compressor:
    """Interface: compress a tensor before communication, decompress the result after."""

    @staticmethod
    def compress(tensor):
        raise NotImplementedError

    @staticmethod
    def decompress(tensor, ctx):
        raise NotImplementedError


class NoneCompressor(Compressor):
    @staticmethod
    def compress(tensor):
        return tensor, None

    @staticmethod
    def decompress(tensor, ctx):
        return tensor


class FP16Compressor(Compressor):
    """Floating-point tensors travel as float16 and come back in their own dtype."""

    @staticmethod
    def compress(tensor):
        compressed = _c.compress_fp16(tensor)
        return compressed, (tensor.dtype if compressed.dtype != tensor.dtype else None)

    @staticmethod
    def decompress(tensor, ctx):
        if ctx is not None:
            return _c.decompress(tensor, ctx)
        return tensor


class Compression:
    none = NoneCompressor
    fp16 = FP16Compressor
