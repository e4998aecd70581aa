"""trainyard: track metrics, tags and files from inside a training script.

    from trainyard import Run
    run = Run.get_context()        # the current run; an offline run outside trainyard
    run.log("loss", 0.25)          # buffered, sent in the background; never waits for I/O

Everything is implemented once, in C++ (trainyard._core); this package is a thin layer over it.
"""

from trainyard.run import Experiment, Run

__all__ = ["Experiment", "Run"]
__version__ = "0.1.0"
