"""trainyard's stand-in for the hosted examples' src/hello-mlflow.py: logs a param, a random
metric and a small file with MLflow's fluent API (trainyard's mlflow compatibility package when
the real one is not installed)."""
import random

import mlflow

mlflow.log_param("hello_param", "world")
mlflow.log_metric("hello_metric", random.random())
with open("helloworld.txt", "w") as f:
    f.write("hello world\n")
mlflow.log_artifact("helloworld.txt")
