"""The whole flow through the hosted SDK's names: train, register, deploy locally, score, clean up.

    python deploy_sdk.py [--epochs 10] [--port 0] [--keep]

The workspace is the one config.json names (`Workspace.from_config()`: here the local workspace
$TRAINYARD_WORKSPACES/digits-serve, by default ~/.trainyard/workspaces/digits-serve). The
service runs score.py in Python workers that trainyard's C++ server starts; --keep leaves it
running (`trainyard deployment delete digits-sdk` later).
"""
import argparse
import json
import os

from azureml.core import Environment, Experiment, Workspace
from azureml.core.model import InferenceConfig, Model
from azureml.core.webservice import LocalWebservice
from azureml.train.dnn import PyTorch

from query import test_digits

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--port", type=int, default=0, help="0: any free port")
parser.add_argument("--keep", action="store_true", help="leave the service running")
args = parser.parse_args()

ws = Workspace.from_config(path=os.path.join(HERE, "config.json"))

# 1. Train (the product page's PyTorch estimator) and register the run's model.
estimator = PyTorch(source_directory=HERE, entry_script="train.py", compute_target="local",
                    script_params={"--epochs": args.epochs, "--lr": 0.01})
run = Experiment(ws, "digits-serve").submit(estimator)
run.wait_for_completion(show_output=False)
model = run.register_model(model_name="digits", model_path="outputs/model.pt",
                           tags={"input_shape": "64", "input_dtype": "FP32"})
print("registered", model.id, "from run", model.run_id)

# 2. Deploy it with the scoring script, on this machine.
inference_config = InferenceConfig(entry_script="score.py", source_directory=HERE,
                                   environment=Environment("digits-scoring"))
deployment_config = LocalWebservice.deploy_configuration(port=args.port or None)
service = Model.deploy(ws, "digits-sdk", [model], inference_config, deployment_config)
service.wait_for_deployment(show_output=True)
print("state", service.state, "scoring_uri", service.scoring_uri)

# 3. Score a few test digits.
try:
    data, labels = test_digits(5)
    answer = service.run(json.dumps({"data": data}))
    print("predicted", answer["predictions"])
    print("labels   ", labels)
finally:
    if not args.keep:
        service.delete()
        print("deleted digits-sdk")
