#!/usr/bin/env python3
"""Checks a `mambascope-cli states` file of a Mamba-1 model against an independent recomputation.

usage: states_ref.py MODEL_DIR STATES.safetensors [--tol 1e-5]

The model runs in HF transformers (its torch path) in float64 on the CPU on the file's token_ids;
hooks take layer L's x_proj input and output, and the recurrence is redone here in float64:
  h_t = exp(dt_t A) s_{t-1} + dt_t B_t x_t,   s_t = h_t (float) or Q(h_t) (quantized run).
Checks, each printed with its worst error:
  float      float_states = h_t of the float recurrence, |ours - ref| <= tol · max(1, |ref|)
  h16        (hbits 16) quant_states == float_states bit for bit, scales of h_t as below
  scales     channel_scales and state_scales = the method's scales (dsq.h's formulas, here in
             float64) of h_t rebuilt from the FILE's previous quantized state, within the float
             states' budget tol · max(1, |ref|)
  quantized  (hbits < 16) quant_states = Q(h_t) with those scales: within one step M_ij / qmax
             everywhere (a value may sit within fp32 rounding of a tie), the same code in >= 99 %.
Exits 1 when a check fails.
"""
import argparse
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from transformers import AutoModelForCausalLM


def scales(h, method, variant):
    """h [R, N] float64 -> channel [R], state [N] with zeros replaced by 1 (core/quant/dsq.h)."""
    a = np.abs(h)
    one = lambda v: np.where(v == 0, 1.0, v)
    R, N = h.shape
    if method == "tensor":
        return np.ones(R), np.full(N, one(a.max()))
    if method == "channel":
        return one(a.max(1)), np.ones(N)
    if method == "state":
        return np.ones(R), one(a.max(0))
    f = {"abs.max": lambda v: v.max(1), "abs.max.sqrt": lambda v: np.sqrt(v.max(1)),
         "abs.mean": lambda v: v.mean(1), "abs.mean.sqrt": lambda v: np.sqrt(v.mean(1))}[variant]
    ch = one(f(a))
    return ch, one((a / ch[:, None]).max(0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model"); ap.add_argument("states"); ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    with safe_open(args.states, "np") as f:
        meta = f.metadata()
        file = {k: f.get_tensor(k) for k in f.keys()}
    layer, bits = int(meta["layer"]), int(meta["hbits"])
    method, variant = meta["state_method"], meta["dsq_variant"]
    ids = file["token_ids"].astype(np.int64)
    assert len(json.loads(meta["pieces"])) == len(ids), "one text piece per token"

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float64).eval()
    mixer = model.backbone.layers[layer].mixer
    cap = {}
    mixer.x_proj.register_forward_pre_hook(lambda m, a: cap.__setitem__("x", a[0]))
    mixer.x_proj.register_forward_hook(lambda m, a, out: cap.__setitem__("dbc", out))
    with torch.no_grad():
        model(torch.tensor([ids]), use_cache=False)
    R, N = mixer.time_step_rank, mixer.ssm_state_size
    x = cap["x"][0].numpy()  # [T, E]
    dt_in, Bm, Cm = torch.split(cap["dbc"][0], [R, N, N], dim=-1)
    dt = F.softplus(dt_in @ mixer.dt_proj.weight.T + mixer.dt_proj.bias).detach().numpy()  # [T, E]
    A = (-torch.exp(mixer.A_log)).detach().numpy()  # [E, N]
    Bm = Bm.numpy()
    T, E = x.shape

    ok = True
    def report(name, worst, passed):
        nonlocal ok
        print(f"{name}: worst {worst:.3g} {'ok' if passed else 'FAILED'}")
        ok = ok and passed

    fs, qs = file["float_states"].astype(np.float64), file["quant_states"].astype(np.float64)
    ch_file, st_file = file["channel_scales"].astype(np.float64), file["state_scales"].astype(np.float64)
    assert fs.shape == (T, E, N) and qs.shape == (T, E, N), f"shapes {fs.shape} {qs.shape}"
    s = np.zeros((E, N))
    worst = 0.0
    for t in range(T):
        s = np.exp(dt[t][:, None] * A) * s + (dt[t][:, None] * Bm[t][None, :]) * x[t][:, None]
        worst = max(worst, float((np.abs(fs[t] - s) / np.maximum(1.0, np.abs(s))).max()))
    report("float", worst, worst <= args.tol)

    if bits == 16:
        report("h16", float(np.abs(file["quant_states"] - file["float_states"]).max()),
               np.array_equal(file["quant_states"], file["float_states"]))
    qmax = 2 ** (bits - 1) - 1
    prev = np.zeros((E, N))
    worst_sc, worst_rel, worst_steps, exact = 0.0, 0.0, 0.0, 0
    for t in range(T):
        h = np.exp(dt[t][:, None] * A) * prev + (dt[t][:, None] * Bm[t][None, :]) * x[t][:, None]
        ch, st = scales(h, method, variant)
        # The float states' budget: rows whose state is ~1e-6 of the layer's carry inputs that are
        # themselves near zero, so their relative error is fp32's noise, not the formula's.
        worst_sc = max(worst_sc, float((np.abs(ch_file[t] - ch) / np.maximum(1.0, ch)).max()),
                       float((np.abs(st_file[t, 0] - st) / np.maximum(1.0, st)).max()))
        worst_rel = max(worst_rel, float(np.abs(ch_file[t] / ch - 1).max()), float(np.abs(st_file[t, 0] / st - 1).max()))
        if bits < 16:
            M = ch[:, None] * st[None, :]
            q = np.clip(np.round(qmax * h / M), -qmax, qmax) * M / qmax
            worst_steps = max(worst_steps, float((np.abs(qs[t] - q) / (M / qmax)).max()))
            exact += int((np.abs(qs[t] - q) <= 1e-3 * M / qmax).sum())  # the same code
        prev = qs[t]  # the state the next token reads: the file's own
    report("scales", worst_sc, worst_sc <= args.tol)
    print(f"scales: worst relative {worst_rel:.3g} (information: tiny rows)")
    if bits < 16:
        report("quantized (steps)", worst_steps, worst_steps <= 1.0 + 1e-6)
        share = exact / (T * E * N)
        report("quantized (share equal)", 1 - share, share >= 0.99)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
