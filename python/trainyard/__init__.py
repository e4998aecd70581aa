"""trainyard: submit training jobs and follow their runs from Python, and track metrics, tags and
files from inside training scripts.

    import trainyard
    ws = trainyard.Workspace()                     # $TRAINYARD_WORKSPACE, else ~/.trainyard
    run = trainyard.Experiment(ws, "digits").submit(
        trainyard.PyTorch(source_directory="examples/digits", entry_script="train.py"))
    run.wait_for_completion(show_output=True)

    # inside a training script:
    run = trainyard.Run.get_context()  # the current run; an offline run outside trainyard
    run.log("loss", 0.25)              # buffered, sent in the background; never waits for I/O

Everything is implemented once, in C++: trainyard._sdk binds the C++ API (the CLI's own code),
trainyard._core the tracking recorder. See docs/sdk.md; sweeps (trainyard.Sweep and
trainyard.sweep's distributions and policies): docs/sweeps-python.md.
"""

from trainyard.model import Deployment, Model, deploy
from trainyard.run import Run, RunFailedError
from trainyard.sdk import Command, Estimator, Experiment, PyTorch, Target, Workspace, get_run
from trainyard.sweep import Sweep

__all__ = ["Command", "Deployment", "Estimator", "Experiment", "Model", "PyTorch", "Run",
           "RunFailedError", "Sweep", "Target", "Workspace", "deploy", "get_run", "sweep"]
__version__ = "0.1.0"
