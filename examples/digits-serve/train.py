"""Train a small classifier on scikit-learn's 8x8 handwritten digits and save it for serving.

Writes outputs/model.pt: a TorchScript model (torch.jit.script) that takes a float tensor
[n, 64] (the 8x8 pixels, 0..16, divided by 16) and returns 10 logits per row, so that trainyard's
C++ server runs it without Python. Logs loss and test accuracy to the run when trainyard is
importable. Reads digits.csv.gz from inside scikit-learn's package (no download).

    python train.py --epochs 10 --lr 0.01
"""
import argparse
import gzip
import importlib.util
import os

import torch
from torch import nn

try:  # metrics go to the run when the script runs under trainyard
    from trainyard import Run
except ImportError:
    Run = None


def load_digits():
    """(x float32 [n, 64] in 0..1, y int64 [n]) from scikit-learn's digits.csv.gz."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise SystemExit("error: scikit-learn is not installed (Debian: python3-sklearn)")
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    with gzip.open(path, "rt") as f:
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    data = torch.tensor(rows)
    return data[:, :64] / 16.0, data[:, 64].long()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--output-dir", default="outputs")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    run = Run.get_context() if Run is not None else None

    x, y = load_digits()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_train = int(0.8 * len(x))
    train, test = order[:n_train], order[n_train:]
    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch in train[torch.randperm(n_train)].split(64):
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
        print(f"epoch {epoch}/{args.epochs} loss {loss.item():.4f} test_acc {accuracy:.4f}",
              flush=True)
        if run is not None:
            run.log("loss", loss.item())
            run.log("test_acc", accuracy)

    os.makedirs(args.output_dir, exist_ok=True)
    torch.jit.script(model).save(os.path.join(args.output_dir, "model.pt"))
    print(f"saved {os.path.join(args.output_dir, 'model.pt')} (test accuracy {accuracy:.4f})")


if __name__ == "__main__":
    main()
