#!/usr/bin/env python3
"""Independent reference for the static activation scales `quantize --act-scale static` records
(mambascope.json "activations.absmax") after an offline transform, for tst_cli_static_scales.cpp.

usage: static_scales_ref.py SOURCE_DIR EXPORT_DIR METHOD TOKENIZER --file F --seq-len L --tokens N
                            [--stats S --alpha A]

Builds the transformed float model from SOURCE_DIR with transform_ref.py's numpy formulas
(METHODS.md section 3), loads it in transformers in float64, runs the calibration text as the
contract cuts it (the first N tokens; each file ends a sequence; pieces of L tokens), takes every
Linear input with forward hooks, and compares each point's absmax (over tokens and channels) with
the recorded one. Prints one JSON line: points (compared), missing (points the export lacks),
extra (recorded points the model has not), max_rel (largest relative difference).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
from safetensors.numpy import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transform_ref import transformed_weights  # noqa: E402


def windows(tok, files, seq_len, budget):
    out = []
    for f in files:
        ids = tok.encode(open(f, encoding="utf-8").read(), add_special_tokens=False).ids[:budget]
        budget -= len(ids)
        out += [ids[i:i + seq_len] for i in range(0, len(ids), seq_len)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source"); ap.add_argument("export"); ap.add_argument("method"); ap.add_argument("tokenizer")
    ap.add_argument("--file", action="append", required=True)
    ap.add_argument("--seq-len", type=int, required=True)
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--stats"); ap.add_argument("--alpha", type=float)
    a = ap.parse_args()

    W = transformed_weights(a.source, a.method, a.stats, a.alpha)
    work = tempfile.mkdtemp()
    try:
        cfg = json.load(open(f"{a.export}/config.json"))  # the export's: lm_head untied by a rotation
        json.dump(cfg, open(f"{work}/config.json", "w"))
        save_file({k: v.astype(np.float32) for k, v in W.items()}, f"{work}/model.safetensors")
        model = AutoModelForCausalLM.from_pretrained(work, dtype=torch.float64).eval()
    finally:
        shutil.rmtree(work)

    absmax = {}

    def take(name, t):
        absmax[name] = max(absmax.get(name, 0.0), float(t.abs().max()))

    # transformers multiplies by dt_proj.weight directly (no module call): dt_proj's input is the
    # first time_step_rank columns of x_proj's output.
    R = model.config.time_step_rank
    for i, layer in enumerate(model.backbone.layers):
        for m in ("in_proj", "x_proj", "out_proj"):
            getattr(layer.mixer, m).register_forward_pre_hook(
                lambda mod, args, name=f"layers.{i}.{m}.input": take(name, args[0]))
        layer.mixer.x_proj.register_forward_hook(
            lambda mod, args, out, name=f"layers.{i}.dt_proj.input": take(name, out[..., :R]))
    tok = Tokenizer.from_file(a.tokenizer)
    with torch.no_grad():
        for ids in windows(tok, a.file, a.seq_len, a.tokens):
            model(torch.tensor([ids]), use_cache=False)

    recorded = json.load(open(f"{a.export}/mambascope.json"))["activations"].get("absmax", {})
    res = {"points": 0, "missing": sorted(set(absmax) - set(recorded)),
           "extra": sorted(set(recorded) - set(absmax)), "max_rel": 0.0}
    for k, ref in absmax.items():
        if k in recorded:
            res["points"] += 1
            res["max_rel"] = max(res["max_rel"], abs(recorded[k] - ref) / max(ref, 1e-30))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
