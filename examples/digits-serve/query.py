"""Send a few test digits to a scoring URI and compare the answers with their labels.

    python query.py http://127.0.0.1:8080/score [--count 10]

Works with both answers: trainyard's TorchScript server (/score returns the logits as nested
lists) and score.py ({"predictions": [...]}). Exits 1 if the service answered an error.
"""
import argparse
import gzip
import importlib.util
import json
import os
import sys
import urllib.error
import urllib.request


def test_digits(count):
    """The last `count` rows of scikit-learn's digits: ([[64 floats in 0..1]], [labels])."""
    spec = importlib.util.find_spec("sklearn")
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    with gzip.open(path, "rt") as f:
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()][-count:]
    return [[v / 16.0 for v in row[:64]] for row in rows], [int(row[64]) for row in rows]


def predictions(answer):
    if isinstance(answer, dict):  # score.py's answer
        return answer["predictions"]
    return [max(range(len(row)), key=row.__getitem__) for row in answer]  # logits


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("uri")
    p.add_argument("--count", type=int, default=10)
    args = p.parse_args()
    data, labels = test_digits(args.count)
    request = urllib.request.Request(args.uri, data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"error: {e.code} {e.read().decode(errors='replace')}")
    predicted = predictions(answer)
    right = sum(p == t for p, t in zip(predicted, labels))
    print(f"predicted {predicted}")
    print(f"labels    {labels}")
    print(f"{right}/{len(labels)} right")


if __name__ == "__main__":
    main()
