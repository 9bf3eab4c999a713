#!/usr/bin/env python3
"""Check that two statistics files hold the same statistics up to the order of fp64 additions.

  compare_exact.py A.safetensors B.safetensors [--sum-rtol 1e-12] [--json OUT]

Extrema (absmax, min, max), counts and histograms must be bit-identical: they do not depend on the
order of any addition. fp64 sums may differ by reordering only (the GPU kernels add with atomics,
and several GPUs' partial sums are added once more): `sum` is compared on the scale of its terms
(|sum| <= sqrt(count * sumsq)), sumsq, sum_abs and cov on their own magnitude, to --sum-rtol.
mean_abs is sum_abs / count rounded to fp32: one fp32 ulp. Exit 1 on a violation, 2 on different
tensor sets. Reads the files with the safetensors package (independent of our C++ code).
"""
import argparse, json, sys

import numpy as np
from safetensors.numpy import load_file

EXACT = {"absmax", "min", "max", "count", "hist", "hist_edges"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a"); ap.add_argument("b")
    ap.add_argument("--sum-rtol", type=float, default=1e-12)
    ap.add_argument("--json")
    args = ap.parse_args()
    A, B = load_file(args.a), load_file(args.b)
    if set(A) != set(B):
        print("different tensors:", sorted(set(A) ^ set(B))[:10]); sys.exit(2)
    differing = {}   # exact stats: number of elements that differ
    worst = {}       # rounding stats: worst relative difference
    where = {}
    for key in sorted(A):
        point, stat = key.rsplit(".", 1)
        a, b = A[key], B[key]
        if stat in EXACT:
            n = int(np.sum(a != b)) if a.shape == b.shape else a.size
            differing[stat] = differing.get(stat, 0) + n
            if n and stat not in where: where[stat] = key
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if stat == "sum":
            scale = np.sqrt(A[point + ".count"].astype(np.float64) * B[point + ".sumsq"])
        elif stat == "cov":
            scale = np.full(b64.shape, max(np.abs(b64).max(), 1e-300))
        else:
            scale = np.abs(b64)
        err = float((np.abs(a64 - b64) / np.maximum(scale, 1e-300)).max()) if a.size else 0.0
        if err > worst.get(stat, -1):
            worst[stat], where[stat] = err, key
    ok = True
    for stat, n in sorted(differing.items()):
        good = n == 0
        ok &= good
        print(f"{stat:10s} {'identical' if good else f'{n} elements differ (first at {where[stat]})'}")
    for stat, err in sorted(worst.items()):
        limit = 2.0 ** -23 if stat == "mean_abs" else args.sum_rtol
        good = err <= limit
        ok &= good
        print(f"{stat:10s} worst {err:.3e} (limit {limit:.0e}) {'ok' if good else 'EXCEEDED'} at {where[stat]}")
    if args.json:
        json.dump({"differing": differing, "worst": worst, "where": where, "sum_rtol": args.sum_rtol,
                   "ok": ok}, open(args.json, "w"), indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
