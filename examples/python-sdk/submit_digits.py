"""Submit the digits example from Python and follow it, with trainyard's own SDK.

    /usr/bin/python3 examples/python-sdk/submit_digits.py [--workspace DIR] [--epochs N]

The same run as `trainyard submit examples/digits/job.yaml --stream`; the SDK is the C++ API
bound to Python (docs/sdk.md), so it validates, snapshots and supervises exactly as the CLI does.
"""
import argparse
import os

import trainyard

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("--workspace", default=None, help="default: as the CLI")
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

ws = trainyard.Workspace(args.workspace)
exp = trainyard.Experiment(ws, "digits")
config = trainyard.PyTorch(source_directory=os.path.join(here, "..", "digits"),
                           entry_script="train.py",
                           script_params={"--epochs": args.epochs, "--lr": 0.01})
run = exp.submit(config, tags={"from": "python-sdk"})
print("submitted", run.id)
run.wait_for_completion(show_output=True)  # raises trainyard.RunFailedError if it fails
metrics = run.get_metrics()
print("final metrics:", {k: v[-1] if isinstance(v, list) else v for k, v in metrics.items()
                         if not isinstance(v, dict)})
print("files:", run.get_file_names())
