"""trainyard: track metrics, tags and files from inside a training script.

    from trainyard import Run
    run = Run.get_context()        # the current run; an offline run outside trainyard
    run.log("loss", 0.25)          # buffered, sent in the background; never waits for I/O

Finished (or running) runs are read with `trainyard.get_run(run_id).get_metrics()`.

Everything is implemented once, in C++ (trainyard._core); this package is a thin layer over it.
"""

from trainyard.run import Experiment, Run
from trainyard.workspace import RecordedRun, get_run

__all__ = ["Experiment", "RecordedRun", "Run", "get_run"]
__version__ = "0.1.0"
