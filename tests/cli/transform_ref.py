#!/usr/bin/env python3
"""Independent numpy reference for `quantize --method T,rtn --format hf` on a Mamba-1 HF model,
for tests/cli/tst_cli_transforms.cpp.

usage: transform_ref.py SOURCE_DIR EXPORT_DIR METHOD WBITS [STATS ALPHA]
  METHOD: hadamard | smoothquant (smoothquant needs the statistics file and alpha)

Rebuilds the expected export from SOURCE_DIR's weights in float64 with the formulas of
shared/METHODS.md section 3, written here from scratch (Sylvester Hadamard by np.kron; SmoothQuant
s = absmax^a / colmax|W|^(1-a), s = 1 for dead channels), casts to float32, applies the contract's
RTN (symmetric, per output channel: s = absmax/(2^(B-1)-1), q = clip(rint(w/s)), value q*s in
float32) to in_proj, x_proj, dt_proj and out_proj, and compares with EXPORT_DIR. Then loads both
models in transformers and compares their logits on a fixed token sequence. Prints one JSON line:
  tensors, missing (expected keys absent from the export), float_max_rel (largest relative difference
  over tensors that are not rounded), step_diffs (rounded elements off by exactly one step: allowed
  only at near-ties), worse (rounded elements off by more than one step), tie_word_embeddings,
  logit_rel (max |logits_export - logits_source| / max |logits_source|).
"""
import json
import sys

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM


def sylvester(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.kron(np.array([[1.0, 1.0], [1.0, -1.0]]), h)
    return h


def rtn_sym(w, bits):
    w = w.astype(np.float32)
    q = np.float32(2 ** (bits - 1) - 1)
    s = np.abs(w).max(axis=1, keepdims=True) / q
    s[s == 0] = 1
    return (np.clip(np.rint(w / s), -q - 1, q) * s).astype(np.float32), s


def transformed_weights(src, method, stats_file=None, alpha=None):
    """SOURCE_DIR's weights (HF names, float64) after METHOD, as METHODS.md section 3 defines it."""
    cfg = json.load(open(f"{src}/config.json"))
    L, R = cfg["num_hidden_layers"], cfg["time_step_rank"]
    W = {k: v.astype(np.float64) for k, v in load_file(f"{src}/model.safetensors").items()}
    lay = lambda i, name: f"backbone.layers.{i}.{name}"
    head = W.get("lm_head.weight", W["backbone.embeddings.weight"])
    if method == "hadamard":
        d = W["backbone.embeddings.weight"].shape[1]
        Q, Qr = sylvester(d) / np.sqrt(d), sylvester(R) / np.sqrt(R)
        for i in range(L):
            W[lay(i, "mixer.in_proj.weight")] = (W[lay(i, "mixer.in_proj.weight")] * W[lay(i, "norm.weight")]) @ Q
            W[lay(i, "norm.weight")] = np.ones(d)
            W[lay(i, "mixer.out_proj.weight")] = Q.T @ W[lay(i, "mixer.out_proj.weight")]
            x = W[lay(i, "mixer.x_proj.weight")]
            x[:R] = Qr.T @ x[:R]
            W[lay(i, "mixer.dt_proj.weight")] = W[lay(i, "mixer.dt_proj.weight")] @ Qr
        W["lm_head.weight"] = (head * W["backbone.norm_f.weight"]) @ Q
        W["backbone.norm_f.weight"] = np.ones(d)
        W["backbone.embeddings.weight"] = W["backbone.embeddings.weight"] @ Q
    elif method == "smoothquant":
        stats = load_file(stats_file)

        def scales(x, w):
            x, wm = np.abs(x.astype(np.float64)), np.abs(w).max(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                s = x ** alpha / wm ** (1 - alpha)
            return np.where((x == 0) | (wm == 0) | ~np.isfinite(s) | (s == 0), 1.0, s)

        for i in range(L):
            wi = W[lay(i, "mixer.in_proj.weight")]
            s = scales(stats[f"layers.{i}.in_proj.input.absmax"], wi)
            W[lay(i, "norm.weight")] = W[lay(i, "norm.weight")] / s
            W[lay(i, "mixer.in_proj.weight")] = wi * s
            wd = W[lay(i, "mixer.dt_proj.weight")]
            s = scales(stats[f"layers.{i}.dt_proj.input.absmax"], wd)
            W[lay(i, "mixer.x_proj.weight")][:R] /= s[:, None]
            W[lay(i, "mixer.dt_proj.weight")] = wd * s
    else:
        raise SystemExit(f"unknown method {method}")
    return W


def main():
    src, exp, method, bits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cfg = json.load(open(f"{src}/config.json"))
    out_cfg = json.load(open(f"{exp}/config.json"))
    L = cfg["num_hidden_layers"]
    lay = lambda i, name: f"backbone.layers.{i}.{name}"
    stats, alpha = (sys.argv[5], float(sys.argv[6])) if len(sys.argv) > 6 else (None, None)
    W = transformed_weights(src, method, stats, alpha)

    got = load_file(f"{exp}/model.safetensors")
    rounded = [lay(i, f"mixer.{m}.weight") for i in range(L) for m in ("in_proj", "x_proj", "dt_proj", "out_proj")]
    res = {"tensors": 0, "missing": [], "float_max_rel": 0.0, "step_diffs": 0, "worse": 0,
           "tie_word_embeddings": out_cfg.get("tie_word_embeddings")}
    for k, v in W.items():
        if k not in got:
            res["missing"].append(k)
            continue
        res["tensors"] += 1
        g = got[k].astype(np.float64)
        if k in rounded:
            want, s = rtn_sym(v, bits)
            diff = np.abs(g - want) / s.astype(np.float64)  # in steps
            res["step_diffs"] += int(((diff > 1e-3) & (diff < 1 + 1e-3)).sum())
            res["worse"] += int((diff >= 1 + 1e-3).sum())
        else:
            scale = max(np.abs(v).max(), 1e-30)
            res["float_max_rel"] = max(res["float_max_rel"], float(np.abs(g - v).max() / scale))

    ids = torch.tensor([[(7 * t + 3) % cfg["vocab_size"] for t in range(40)]])
    with torch.no_grad():
        a = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)(ids).logits
        b = AutoModelForCausalLM.from_pretrained(exp, dtype=torch.float32)(ids).logits
    res["logit_rel"] = float((a - b).abs().max() / a.abs().max())
    print(json.dumps(res))


if __name__ == "__main__":
    main()
