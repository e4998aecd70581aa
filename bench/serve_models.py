"""Models and request bodies for the serving benchmark (bench/serve_bench.py).

Writes into OUT_DIR:
  digits.pt            examples/digits' MLP (64 -> 128 -> 128 -> 10) trained briefly on
                       scikit-learn's 8x8 digits by examples/digits/train.py itself, saved with
                       torch.jit.script
  digits.json          a request body: {"data": [[64 pixels / 16]]}, one real test image
  resnet18_S.pt        torchvision's ResNet-18 with random weights (seeded), torch.jit.trace-d
                       on [1, 3, S, S] (S = 224 unless --resnet-sizes says otherwise)
  resnet18_S.json      a request body: {"data": [1 x 3 x S x S random values]}
  models.json          {name: {"path", "body", "input_shape", "input_dtype"}}

    /usr/bin/python3 bench/serve_models.py OUT_DIR [--resnet-sizes 224,64] [--digits-epochs 5]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DIGITS_TRAIN = REPO / "examples" / "digits" / "train.py"


def digits_row():
    """One test image of scikit-learn's digits, scaled as train.py scales it (0..1)."""
    import importlib.util
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        last = [line for line in f if line.strip()][-1]
    return [float(v) / 16.0 for v in last.split(",")[:64]]


def export_digits(out, epochs):
    work = out / "digits-train"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("TRAINYARD_RUN_ID", None)
    subprocess.run([sys.executable, str(DIGITS_TRAIN), "--epochs", str(epochs),
                    "--output-dir", str(work)], check=True, env=env, stdout=subprocess.DEVNULL)
    (work / "model.pt").replace(out / "digits.pt")
    (out / "digits.json").write_text(json.dumps({"data": [digits_row()]}))
    return {"path": str(out / "digits.pt"), "body": str(out / "digits.json"),
            "input_shape": "64", "input_dtype": "FP32"}


def export_resnet(out, size):
    import torchvision
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    example = torch.rand(1, 3, size, size)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
    name = f"resnet18_{size}"
    traced.save(str(out / f"{name}.pt"))
    body = {"data": [[[[round(v, 4) for v in row] for row in channel]
                      for channel in example[0].tolist()]]}
    (out / f"{name}.json").write_text(json.dumps(body))
    return name, {"path": str(out / f"{name}.pt"), "body": str(out / f"{name}.json"),
                  "input_shape": f"3,{size},{size}", "input_dtype": "FP32"}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    p.add_argument("--resnet-sizes", default="224",
                   help="comma-separated input sizes for ResNet-18 (one model each)")
    p.add_argument("--digits-epochs", type=int, default=5)
    args = p.parse_args()
    out = Path(args.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    models = {"digits": export_digits(out, args.digits_epochs)}
    for size in [int(s) for s in args.resnet_sizes.split(",") if s]:
        name, info = export_resnet(out, size)
        models[name] = info
    (out / "models.json").write_text(json.dumps(models, indent=2) + "\n")
    print(json.dumps(models, indent=2))


if __name__ == "__main__":
    main()
