#!/usr/bin/env python3
"""Transforms and the outlier-zeroing experiment on the demo Mamba-1 model, through the CLI.

usage: transforms_demo.py [--cli build/bin/mambascope-cli] [--out resources/reports/transforms-demo.json]

Calibrates demo-mamba on 16,384 Austen tokens (with X^T X), exports each scheme with
`quantize --format hf --stats`, and measures perplexity on 25,000 bytes of Moby Dick (held out,
ctx 1024). Records, per scheme, the perplexity and what mambascope.json says about each transform
(KLT's residual channel-variance CV under identity, Hadamard alone and K·H; the zeroed channels).
CPU only; about 15 minutes on two loaded cores.
"""
import argparse
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMES = [
    ("rtn", ["--wbits", "4"]),
    ("hadamard,rtn", ["--wbits", "4"]),
    ("klt,rtn", ["--wbits", "4"]),
    ("smoothquant,rtn", ["--wbits", "4"]),
    ("klt,smoothquant,rtn", ["--wbits", "4"]),
    ("rtn", ["--wbits", "8"]),
    ("rtn", ["--wbits", "8", "--zero-outliers"]),
    ("rtn", ["--wbits", "8", "--zero-random", "1"]),
    ("rtn", ["--wbits", "8", "--zero-random", "2"]),
    ("rtn", ["--wbits", "8", "--zero-random", "3"]),
]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.path.join(ROOT, "build/bin/mambascope-cli"))
    ap.add_argument("--out", default=os.path.join(ROOT, "resources/reports/transforms-demo.json"))
    a = ap.parse_args()
    model = os.path.join(ROOT, "resources/models/demo-mamba")
    tmp = tempfile.mkdtemp(prefix="transforms-demo-")
    stats = os.path.join(tmp, "stats.safetensors")
    run([a.cli, "calibrate", model, "--file", os.path.join(ROOT, "resources/texts/austen.txt"), "--out", stats,
         "--max-tokens", "16384", "--seq-len", "512", "--cov"])
    with open(os.path.join(ROOT, "resources/texts/moby-dick.txt"), "rb") as f:
        text = f.read()[10000:35000]
    held = os.path.join(tmp, "moby25k.txt")
    with open(held, "wb") as f:
        f.write(text)

    def ppl(m):
        return json.loads(run([a.cli, "perplexity", m, "--file", held, "--ctx", "1024", "--json"]))["perplexity"]

    rows = [{"scheme": "float", "perplexity": ppl(model)}]
    for k, (methods, flags) in enumerate(SCHEMES):
        out = os.path.join(tmp, f"q{k}")
        run([a.cli, "quantize", model, "--method", methods, *flags, "--format", "hf", "--stats", stats, "--out", out])
        scheme = json.load(open(os.path.join(out, "mambascope.json")))
        keep = ("method", "residual_variance_cv", "count", "seed", "statistics")
        rows.append({"scheme": " ".join([methods, *flags]), "perplexity": ppl(out),
                     "transforms": [{k2: v for k2, v in t.items() if k2 in keep} for t in scheme["transforms"]]})
    report = {"model": "resources/models/demo-mamba", "calibration": "16384 Austen tokens, seq 512, with X^T X",
              "held_out": "resources/texts/moby-dick.txt bytes 10000..35000, ctx 1024",
              "rtn": "symmetric per output channel, in/x/dt/out_proj", "rows": rows}
    with open(a.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
