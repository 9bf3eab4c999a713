#!/usr/bin/env python3
"""Our GGUF exports in llama.cpp, side by side with our own engine on the same weights (issue 7).

For each model and --gguf-type, this
  1. exports MODEL --format gguf --gguf-type T (what llama.cpp runs), and --format hf --gguf-type T
     --dtype fp32 (the same weights as our fake-quant: tests/cli/tst_cli_export checks the two are
     bit-identical);
  2. runs llama.cpp's llama-perplexity on the GGUF with its protocol: the text tokenized by
     llama.cpp, cut into chunks of CTX tokens, the state reset per chunk, only the second half of
     each chunk scored (tokens CTX/2+1 .. CTX-1);
  3. runs our engine on the HF export with the very same protocol: our tokenizer's ids, the same
     chunks, logits from `mambascope-cli logits`, the same positions scored;
  4. writes both perplexities, their relative difference, the token counts of both tokenizers and
     the run's settings to --out (JSON).

usage: compare_llama_cpp.py --cli build/bin/mambascope-cli --llama-perplexity PATH \
           --text resources/texts/moby-dick.txt --out resources/reports/llama-cpp-comparison.json \
           [--ctx 512] [--chunks 8] [--models resources/models/demo-mamba ...] [--types f16 q8_0 q4_0]
Needs numpy (the pinned venv). llama.cpp is built from the llama-cpp-python sdist, outside the repo.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def our_ids(cli, model, text):
    out = run([cli, "tokenize", model, "--file", text]).stdout.split()
    return [int(x) for x in out]


def our_second_half_ppl(cli, model, ids, ctx, chunks, tmp):
    """llama-perplexity's protocol in our engine: per chunk, NLL of tokens ctx/2+1 .. ctx-1."""
    first = ctx // 2
    nll, count = 0.0, 0
    for c in range(chunks):
        chunk = ids[c * ctx:(c + 1) * ctx]
        npy = Path(tmp) / f"chunk{c}.npy"
        run([cli, "logits", model, "--ids", ",".join(map(str, chunk)), "--out", npy, "--device", "cpu"])
        logits = np.load(npy).astype(np.float64)  # [ctx, V]
        lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
        for j in range(first, ctx - 1):
            nll += lse[j] - logits[j, chunk[j + 1]]
            count += 1
    return float(np.exp(nll / count)), count


def llama_ppl(binary, gguf, text, ctx, chunks, threads):
    # One file for both streams, line-buffered: through pipes the last lines (the final estimate)
    # were lost once in six runs.
    log_file = Path(gguf).with_suffix(".log")
    with open(log_file, "w") as f:
        rc = subprocess.run(["stdbuf", "-oL", "-eL", str(binary), "-m", str(gguf), "-f", str(text), "-c", str(ctx),
                             "-b", str(ctx), "--chunks", str(chunks), "-t", str(threads)],
                            stdout=f, stderr=subprocess.STDOUT).returncode
    log = log_file.read_text(errors="replace")
    if rc != 0:
        sys.exit(f"llama-perplexity failed ({rc}):\n{log[-3000:]}")
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
    if not m:
        sys.exit(f"no final estimate in llama-perplexity's output:\n{log[-3000:]}")
    n = re.search(r"tokenizing the input .*?\n.*?(\d+) tokens", log)
    chunks_used = re.search(r"calculating perplexity over (\d+) chunks", log)
    return float(m.group(1)), float(m.group(2)), int(chunks_used.group(1)) if chunks_used else None, log


def llama_ids(binary, gguf, text):
    out = run([binary, "-m", gguf, "-f", text, "--ids", "--log-disable"]).stdout
    return [int(x) for x in re.findall(r"-?\d+", out[out.index("["):out.rindex("]") + 1])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--llama-perplexity", required=True)
    ap.add_argument("--llama-tokenize", help="llama-tokenize, to compare the two tokenizers' ids")
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["resources/models/demo-mamba", "resources/models/demo-mamba2"])
    ap.add_argument("--types", nargs="+", default=["f16", "q8_0", "q4_0"])
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            ids = our_ids(a.cli, model, a.text)
            chunks = min(a.chunks, len(ids) // a.ctx)
            for t in a.types:
                stem = Path(tmp) / f"{Path(model).name}-{t}"
                run([a.cli, "quantize", model, "--method", "rtn", "--format", "gguf", "--gguf-type", t,
                     "--out", f"{stem}-gguf"])
                run([a.cli, "quantize", model, "--method", "rtn", "--format", "hf", "--gguf-type", t,
                     "--dtype", "fp32", "--out", f"{stem}-hf"])
                t0 = time.time()
                ours, scored = our_second_half_ppl(a.cli, f"{stem}-hf", ids, a.ctx, chunks, tmp)
                t1 = time.time()
                theirs, err, llama_chunks, _ = llama_ppl(a.llama_perplexity, f"{stem}-gguf/model.gguf", a.text,
                                                         a.ctx, chunks, a.threads)
                t2 = time.time()
                tokens = {}
                if a.llama_tokenize and t == a.types[0]:
                    theirs_ids = llama_ids(a.llama_tokenize, f"{stem}-gguf/model.gguf", a.text)
                    first_diff = next((k for k, (x, y) in enumerate(zip(ids, theirs_ids)) if x != y), None)
                    tokens = {"mambascope_tokens": len(ids), "llama_cpp_tokens": len(theirs_ids),
                              "identical_ids": ids == theirs_ids, "first_difference": first_diff}
                row = {"model": model, "gguf_type": t, **tokens, "mambascope_ppl": round(ours, 4),
                       "llama_cpp_ppl": theirs, "llama_cpp_ppl_stderr": err,
                       "relative_difference": round(abs(ours - theirs) / ours, 6),
                       "chunks": chunks, "llama_cpp_chunks": llama_chunks, "tokens_scored": scored,
                       "mambascope_seconds": round(t1 - t0, 1), "llama_cpp_seconds": round(t2 - t1, 1),
                       "gguf_bytes": Path(f"{stem}-gguf/model.gguf").stat().st_size}
                print(json.dumps(row), flush=True)
                rows.append(row)
    report = {"what": "perplexity of our GGUF export in llama.cpp vs our engine on the same weights, "
                      "llama-perplexity's protocol (chunks of ctx tokens, state reset per chunk, second "
                      "half of each chunk scored, no BOS)",
              "text": a.text, "ctx": a.ctx, "rows": rows,
              "llama_cpp": "vendored in llama-cpp-python 0.3.36 (sdist), CPU build",
              "date": time.strftime("%Y-%m-%d")}
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
