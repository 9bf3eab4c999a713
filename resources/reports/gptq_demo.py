#!/usr/bin/env python3
"""RTN-W4 vs GPTQ-W4 on the demo models: writes resources/reports/gptq-demo.json.

usage: python3 resources/reports/gptq_demo.py [--cli build/bin/mambascope-cli] [--eval-bytes N]

For resources/models/demo-mamba and demo-mamba2: `quantize --method rtn` and `--method gptq`
(4-bit, asymmetric, group:64, every Linear, conv and lm_head in float, --format hf --dtype fp32),
GPTQ calibrated on the first 64 windows of 512 tokens of resources/texts/austen.txt (the command's
defaults), then `perplexity` (ctx 512) of the float model and both exports on held-out text: the
first N bytes of resources/texts/moby-dick.txt (a different book from the calibration text).
The setting follows the practical study's GPTQ-W4 (asymmetric, per column group, lm_head and conv
in float); it used 64 windows of 2048 WikiText-2 tokens. Our groups are 64 columns: the demo
models' widths 256 and 512 divide by 64, but Mamba-1 dt_proj's 16 input columns do not, so dt_proj
(16 x 512 weights, 2% of a layer's) stays in float for both methods.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(cmd):
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr}")
    return p.stdout, time.time() - t


def perplexity(cli, model, text, ctx):
    out, _ = run([cli, "perplexity", str(model), "--file", str(text), "--ctx", str(ctx), "--device", "cpu", "--json"])
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(ROOT / "build" / "bin" / "mambascope-cli"))
    ap.add_argument("--eval-bytes", type=int, default=200_000)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--group", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "resources" / "reports" / "gptq-demo.json"))
    a = ap.parse_args()
    raw = (ROOT / "resources" / "texts" / "moby-dick.txt").read_bytes()[:a.eval_bytes]
    raw = raw[:raw.rfind(b"\n") + 1]  # whole lines, valid UTF-8
    result = {"generator": "resources/reports/gptq_demo.py", "setting": {
        "bits": 4, "symmetric": False, "granularity": f"group:{a.group}",
        "modules": {"demo-mamba": "in_proj,x_proj,out_proj (dt_proj: 16 input columns, not a multiple of 64)",
                    "demo-mamba2": "in_proj,out_proj", "float": "conv1d, dt_proj, norms, embedding, lm_head"},
        "gptq": {"damp": 0.01, "block": 128, "act_order": False,
                 "calibration": "resources/texts/austen.txt, first 64 windows of 512 tokens"},
        "evaluation": {"text": "resources/texts/moby-dick.txt", "bytes": len(raw), "ctx": a.ctx}},
        "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text = tmp / "eval.txt"
        text.write_bytes(raw)
        for name in ["demo-mamba", "demo-mamba2"]:
            model = ROOT / "resources" / "models" / name
            row = {"float": perplexity(a.cli, model, text, a.ctx)}
            for method in ["rtn", "gptq"]:
                out = tmp / f"{name}-{method}"
                _, secs = run([a.cli, "quantize", str(model), "--method", method, "--format", "hf",
                               "--wbits", "4", "--asym", "--granularity", f"group:{a.group}",
                               "--modules", "in_proj,x_proj,out_proj", "--dtype", "fp32", "--out", str(out)])
                row[method] = perplexity(a.cli, out, text, a.ctx)
                row[method]["quantize_seconds"] = round(secs, 1)
                rep = json.loads((out / "report.json").read_text())
                row[method]["mean_weight_sqnr_db"] = rep["summary"]["mean_sqnr_db"]
            f = row["float"]["perplexity"]
            row["delta_ppl"] = {m: row[m]["perplexity"] - f for m in ["rtn", "gptq"]}
            row["gptq_beats_rtn"] = row["gptq"]["perplexity"] < row["rtn"]["perplexity"]
            result["models"][name] = row
            print(name, {k: (v["perplexity"] if isinstance(v, dict) and "perplexity" in v else v)
                         for k, v in row.items()}, flush=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
