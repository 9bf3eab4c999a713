#!/usr/bin/env python3
"""Compare two statistics files (mambascope-cli calibrate) point by point.

  compare_stats.py A.safetensors B.safetensors [--rtol R] [--json OUT]

For each stat it prints the worst relative difference |a-b| / max(|b|, floor) over channels, where
`floor` is 1e-3 of the tensor's largest |b| (a near-zero sum is compared on the tensor's scale,
not its own). Histograms are compared by the share of the mass that moved bins. Exit 1 when any
per-channel stat exceeds --rtol or more than --hist-moved of a histogram moved; 2 on a key
mismatch. Independent of our C++ code: it reads the files with the safetensors package.
"""
import argparse, json, sys
from collections import defaultdict

import numpy as np
from safetensors.numpy import load_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a"); ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--hist-moved", type=float, default=1e-3)
    ap.add_argument("--json")
    args = ap.parse_args()
    A, B = load_file(args.a), load_file(args.b)
    if set(A) != set(B):
        print("different tensors:", sorted(set(A) ^ set(B))[:10]); sys.exit(2)
    worst = defaultdict(float)
    where = {}
    for key in sorted(A):
        stat = key.rsplit(".", 1)[1]
        a, b = A[key].astype(np.float64), B[key].astype(np.float64)
        if stat == "hist_edges":
            continue
        if stat == "hist":
            moved = np.abs(a - b).sum() / 2 / max(1.0, b.sum())
            err = moved
        elif stat == "count":
            err = float(np.abs(a - b).max())
        else:
            scale = max(np.abs(b).max() * 1e-3, 1e-30)
            err = float((np.abs(a - b) / np.maximum(np.abs(b), scale)).max())
        if stat not in where or err > worst[stat]:
            worst[stat], where[stat] = err, key
    failed = False
    for stat in sorted(worst):
        limit = args.hist_moved if stat == "hist" else (0 if stat == "count" else args.rtol)
        ok = worst[stat] <= limit
        failed |= not ok
        print(f"{stat:10s} worst {worst[stat]:.3e} (limit {limit:.0e}) {'ok' if ok else 'EXCEEDED'} at {where[stat]}")
    if args.json:
        json.dump({"worst": worst, "where": where, "rtol": args.rtol, "ok": not failed}, open(args.json, "w"), indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
