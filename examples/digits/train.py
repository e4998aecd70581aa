"""Train a small MLP on the 8x8 handwritten digits (1,797 images) that ship with scikit-learn.

Reads digits.csv.gz directly (64 pixel values 0..16 and the label per line), splits it 80/20 with
a fixed seed, trains with Adam (or SGD with --optimizer sgd, and its --momentum) and a cosine
learning-rate decay, prints one line per epoch and the final test accuracy, and writes
outputs/model.pt (TorchScript) and outputs/metrics.json. Runs in a few seconds on one CPU core.

    python train.py --epochs 20 --lr 0.003 --batch-size 64 --hidden 128 --seed 0
    python train.py --optimizer sgd --lr 0.05 --momentum 0.9
"""

import argparse
import gzip
import importlib.util
import json
import os
import sys
import time

import torch
from torch import nn

try:  # Metrics go to trainyard when the script runs under it; plain printing works everywhere.
    from trainyard import Run
except ImportError:
    Run = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--learning-rate", "--lr", dest="lr", type=float, default=0.003)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam (default) or sgd")
    p.add_argument("--momentum", type=float, default=0.0,
                   help="SGD's momentum factor (torch.optim.SGD momentum), 0 to <1; only with "
                        "--optimizer sgd (Adam's moment decay rates are its betas, left at their "
                        "defaults)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None,
                   help="folder holding digits.csv.gz (default: the copy inside scikit-learn)")
    p.add_argument("--output-dir", default="outputs")
    args = p.parse_args()
    if not 0.0 <= args.momentum < 1.0:
        p.error("--momentum must be in [0, 1), got %r" % args.momentum)
    if args.momentum and args.optimizer != "sgd":
        p.error("--momentum is SGD's momentum: use it with --optimizer sgd")
    return args


def find_data_file(data_dir):
    """Path of digits.csv.gz, or None when only sklearn's loader can provide the data."""
    if data_dir:
        path = os.path.join(data_dir, "digits.csv.gz")
        if not os.path.isfile(path):
            sys.exit("error: %s does not exist (--data-dir must hold digits.csv.gz)" % path)
        return path
    # Locate the scikit-learn package without importing it (importing pulls in scipy: slow).
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin:
        path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def load_digits(data_dir):
    """Returns (features float32 [n, 64] scaled to 0..1, labels int64 [n])."""
    path = find_data_file(data_dir)
    if path is not None:
        rows = []
        with gzip.open(path, "rt") as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append([float(v) for v in line.split(",")])
        data = torch.tensor(rows)
        x, y = data[:, :64], data[:, 64].long()
    else:
        try:
            from sklearn.datasets import load_digits as sklearn_load_digits
        except ImportError:
            sys.exit("error: digits data not found: install scikit-learn (Debian: apt-get install "
                     "python3-sklearn) or pass --data-dir with digits.csv.gz")
        bunch = sklearn_load_digits()
        x = torch.tensor(bunch.data, dtype=torch.float32)
        y = torch.tensor(bunch.target, dtype=torch.int64)
    return x / 16.0, y


class Mlp(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 10))

    def forward(self, x):
        return self.net(x)


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def thread_count():
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def main():
    args = parse_args()
    start = time.time()
    torch.set_num_threads(thread_count())
    torch.manual_seed(args.seed)
    run = Run.get_context() if Run is not None else None

    x, y = load_digits(args.data_dir)
    split = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(x), generator=split)
    n_train = int(0.8 * len(x))
    train_idx, test_idx = order[:n_train], order[n_train:]
    x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    print("digits: %d train, %d test, %d threads" % (len(x_train), len(x_test),
                                                   torch.get_num_threads()), flush=True)

    model = Mlp(args.hidden)
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # Cosine decay to zero over the run: the last epochs settle instead of bouncing around.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, args.epochs))
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(args.seed + 1)
    loss_avg = train_acc = test_acc = float("nan")
    for epoch in range(1, args.epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for batch in torch.randperm(n_train, generator=shuffle).split(args.batch_size):
            xb, yb = x_train[batch], y_train[batch]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        schedule.step()
        model.eval()
        loss_avg = total / seen
        train_acc = accuracy(model, x_train, y_train)
        test_acc = accuracy(model, x_test, y_test)
        print("epoch %d/%d loss %.4f train_acc %.4f test_acc %.4f"
              % (epoch, args.epochs, loss_avg, train_acc, test_acc), flush=True)
        if run is not None:
            run.log("loss", loss_avg)
            run.log("train_acc", train_acc)
            run.log("test_acc", test_acc)

    print("test_accuracy %.4f" % test_acc, flush=True)
    if run is not None:
        run.log("test_accuracy", test_acc)

    os.makedirs(args.output_dir, exist_ok=True)
    model.eval()
    torch.jit.script(model).save(os.path.join(args.output_dir, "model.pt"))
    metrics = {
        "test_accuracy": test_acc,
        "train_accuracy": train_acc,
        "final_loss": loss_avg,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "hidden": args.hidden,
        "optimizer": args.optimizer,
        "momentum": args.momentum,
        "seed": args.seed,
        "train_examples": len(x_train),
        "test_examples": len(x_test),
        "seconds": round(time.time() - start, 3),
    }
    with open(os.path.join(args.output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
