#!/usr/bin/env python3
"""State quantization on the demo models (Q-Mamba Table 3's comparison, METHODS.md section 5): the
SSM state at H8/H6/H4 with DSQ (its four channel-scale variants) and the per-tensor, per-channel and
per-state MinMax baselines, quantized inside the recurrence, weights and activations float
(W16A16Hb). Every number comes from `mambascope-cli eval --json`: perplexity of the float and the
quantized run on the same windows, mean KL of next-token distributions, top-1 agreement, and the
state error (SQNR, MSE) averaged over layers.

    python3 tests/bench/state_quant_report.py [--cli build/bin/mambascope-cli] [--tokens 16384]

writes resources/reports/state-quant.json and prints a markdown table. Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = [("tensor", None), ("channel", None), ("state", None), ("dsq", "abs.max"),
           ("dsq", "abs.max.sqrt"), ("dsq", "abs.mean"), ("dsq", "abs.mean.sqrt")]


def run_eval(cli, model, text, tokens, ctx, bits, method, variant):
    args = [cli, "eval", model, "--file", text, "--max-tokens", str(tokens), "--ctx", str(ctx),
            "--device", "cpu", "--json", "--hbits", str(bits), "--state-method", method]
    if variant:
        args += ["--dsq-variant", variant]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "bin", "mambascope-cli"))
    ap.add_argument("--text", default=os.path.join(ROOT, "resources", "texts", "moby-dick.txt"))
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--bits", default="4,6,8")
    ap.add_argument("--methods", default="tensor,channel,state,abs.max,abs.max.sqrt,abs.mean,abs.mean.sqrt",
                    help="baselines (tensor, channel, state) and DSQ variants to run")
    ap.add_argument("--out", default=os.path.join(ROOT, "resources", "reports", "state-quant.json"))
    a = ap.parse_args()
    rows = []
    for model in ("demo-mamba", "demo-mamba2"):
        mdir = os.path.join(ROOT, "resources", "models", model)
        for bits in [int(b) for b in a.bits.split(",")]:
            wanted = a.methods.split(",")
            for method, variant in [m for m in METHODS if (m[1] or m[0]) in wanted]:
                j = run_eval(a.cli, mdir, a.text, a.tokens, a.ctx, bits, method, variant)
                e = j["end_to_end"]
                states = [p for p in j["points"] if p["point"].endswith(".ssm.state")]
                sq = [p["sqnr_db"] for p in states if p["sqnr_db"] is not None]
                row = {"model": model, "hbits": bits, "method": method, "dsq_variant": variant,
                       "label": variant if method == "dsq" else "per-" + method,
                       "perplexity_float": e["perplexity_float"],
                       "perplexity_quant": e["perplexity_quant"],
                       "delta_perplexity": e["delta_perplexity"], "kl_mean": e["kl_mean"],
                       "kl_p99": e["kl_p99"], "top1_agreement": e["top1_agreement"],
                       "state_sqnr_db_mean": sum(sq) / len(sq) if sq else None,
                       "state_mse_mean": sum(p["mse"] for p in states) / len(states),
                       "tokens": e["tokens"]}
                rows.append(row)
                print(f"{model} H{bits} {row['label']:>14}: ppl {row['perplexity_quant']:.4f} "
                      f"(float {row['perplexity_float']:.4f}), KL {row['kl_mean']:.4g}, "
                      f"state SQNR {row['state_sqnr_db_mean']:.2f} dB", file=sys.stderr)
    report = {"what": "W16A16Hb state quantization inside the recurrence on the demo models "
                      "(Q-Mamba Table 3/5 comparison)",
              "text": os.path.relpath(a.text, ROOT), "tokens": a.tokens, "ctx": a.ctx,
              "command": "python3 tests/bench/state_quant_report.py " + " ".join(sys.argv[1:]),
              "rows": rows}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print("| model | H | method | ppl (float) | ppl | KL mean | top-1 | state SQNR dB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['hbits']} | {r['label']} | {r['perplexity_float']:.3f} | "
              f"{r['perplexity_quant']:.3f} | {r['kl_mean']:.4g} | {100 * r['top1_agreement']:.2f} % | "
              f"{r['state_sqnr_db_mean']:.2f} |")


if __name__ == "__main__":
    main()
