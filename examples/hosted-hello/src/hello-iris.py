"""trainyard's stand-in for the hosted examples' src/hello-iris.py: reads the iris CSV given by
--iris-csv (a path, or a URL, which it downloads as pandas.read_csv would), prints its first five
rows and writes it to outputs/iris.csv. Only the standard library: Debian's python3 has no pandas.
"""
import argparse
import csv
import io
import os
import urllib.request


def read_rows(where):
    if where.startswith(("http://", "https://")):
        with urllib.request.urlopen(where, timeout=30) as response:
            return list(csv.reader(io.TextIOWrapper(response, encoding="utf-8")))
    with open(where, newline="") as f:
        return list(csv.reader(f))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iris-csv", type=str, required=True)
    args = parser.parse_args()
    rows = read_rows(args.iris_csv)
    header, data = rows[0], rows[1:]
    print("   " + "  ".join(header))
    for i, row in enumerate(data[:5]):
        print(f"{i:<3}" + "  ".join(row))
    print(f"[{len(data)} rows x {len(header)} columns]")
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/iris.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)


if __name__ == "__main__":
    main()
