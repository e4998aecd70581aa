"""Scoring script for the digits model (the hosted service's contract): init() once per worker,
run(raw_data) per request with the request body as text.

Request:  {"data": [[64 pixel values, 0..16 divided by 16], ...]}
Answer:   {"predictions": [digit, ...], "probabilities": [[10 floats], ...]}
"""
import json

import torch
from azureml.core.model import Model

model = None


def init():
    global model
    # Inside the service this resolves under AZUREML_MODEL_DIR, as on the hosted service.
    path = Model.get_model_path("digits")
    torch.set_num_threads(1)
    model = torch.jit.load(path).eval()


def run(raw_data):
    data = json.loads(raw_data)["data"]
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.tensor(data, dtype=torch.float32)), dim=1)
    return {"predictions": probabilities.argmax(dim=1).tolist(),
            "probabilities": [[round(p, 4) for p in row] for row in probabilities.tolist()]}
