#!/usr/bin/env python3
"""The calibration statistics of a model directory in float64, independently of our C++, and
their comparison with a statistics file that `mambascope-cli calibrate` wrote.

usage: hf_stats_ref.py MODEL_DIR TOKENIZER.json STATS.safetensors --seq-len L --file F [--file G]
                       [--rtol R] [--hist-moved M]

The model runs in HF transformers (its torch path) in float64 on the CPU; forward hooks take the
Linear inputs at every quant point (METHODS.md / CLI-CONTRACT.md names). The SSM state of every
token is rebuilt from the hooked tensors with the recurrence in float64 (HF's torch path does not
expose per-token states). Texts are tokenized with the `tokenizers` package and cut as the
contract says (each file ends a sequence; pieces of L tokens, the last shorter).

Prints the worst error per statistic and exits 1 when one exceeds its budget: per-channel stats
relative to max(|ref|, 1e-3 · max|ref| of the tensor); histogram by the share of mass that moved
bins (values within float rounding of an edge may land on either side); counts exactly.
"""
import argparse
import sys
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

EDGES = np.concatenate([[0.0], 10.0 ** (-8.0 + np.arange(225) / 16.0)])


class Acc:
    """Per-channel statistics over rows of [rows, C] float64 tensors."""

    def __init__(self):
        self.parts = []

    def add(self, x):
        self.parts.append(x.reshape(-1, x.shape[-1]).detach().double())

    def stats(self):
        x = torch.cat(self.parts)
        a = x.abs()
        bins = np.clip(np.searchsorted(EDGES, a.flatten().numpy(), side="right") - 1, 0, 224)
        return {"absmax": a.amax(0), "min": x.amin(0), "max": x.amax(0), "sum": x.sum(0),
                "sumsq": (x * x).sum(0), "count": torch.full((x.shape[1],), float(x.shape[0])),
                "hist": torch.from_numpy(np.bincount(bins, minlength=225).astype(np.float64))}


class StateAcc:
    def __init__(self):
        self.absmax, self.sum_abs, self.count = None, None, 0

    def add(self, s):  # one token's states of the batch: [B, ...]
        a = s.abs()
        m, t = a.amax(0), a.sum(0)
        self.absmax = m if self.absmax is None else torch.maximum(self.absmax, m)
        self.sum_abs = t if self.sum_abs is None else self.sum_abs + t
        self.count += s.shape[0]


def mamba1_layer_states(mixer, x, dbc, falcon, eps):
    """x: [B, T, E] (after SiLU(conv)); dbc: x_proj output [B, T, R + 2N]."""
    R, N = mixer.time_step_rank, mixer.ssm_state_size
    dt_in, Bm, Cm = torch.split(dbc, [R, N, N], dim=-1)
    if falcon:
        rms = lambda v: v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps)
        dt_in, Bm, Cm = rms(dt_in), rms(Bm), rms(Cm)
    dt = F.softplus(dt_in @ mixer.dt_proj.weight.T + mixer.dt_proj.bias)  # [B, T, E]
    A = -torch.exp(mixer.A_log)  # [E, N]
    s = torch.zeros(x.shape[0], x.shape[2], N, dtype=torch.float64)
    acc = StateAcc()
    for t in range(x.shape[1]):
        s = torch.exp(dt[:, t, :, None] * A) * s + dt[:, t, :, None] * Bm[:, t, None, :] * x[:, t, :, None]
        acc.add(s)
    return acc, dt_in


def mamba2_layer_states(mixer, zxbcdt, T):
    """zxbcdt: in_proj output [B, T, 2E + 2GN + H]; the causal conv is redone here (HF's torch
    path calls a functional conv, not the module, so there is nothing to hook)."""
    E, N, G, H = mixer.intermediate_size, mixer.ssm_state_size, mixer.n_groups, mixer.num_heads
    P, C = E // H, E + 2 * G * N
    xbc_in = zxbcdt[..., E:E + C].transpose(1, 2)  # [B, C, T]
    K = mixer.conv1d.weight.shape[-1]
    conv = F.conv1d(F.pad(xbc_in, (K - 1, 0)), mixer.conv1d.weight, mixer.conv1d.bias, groups=C)
    xbc = F.silu(conv.transpose(1, 2))  # [B, T, E + 2GN]
    x = xbc[..., :E].reshape(xbc.shape[0], T, H, P)
    Bm = xbc[..., E:E + G * N].reshape(xbc.shape[0], T, G, N)
    dt = F.softplus(zxbcdt[..., -H:] + mixer.dt_bias)
    lo, hi = mixer.time_step_limit
    dt = torch.clamp(dt, lo, hi)
    A = -torch.exp(mixer.A_log)  # [H]
    Bh = Bm.repeat_interleave(H // G, dim=2)  # [B, T, H, N]
    s = torch.zeros(x.shape[0], H, P, N, dtype=torch.float64)
    acc = StateAcc()
    for t in range(T):
        s = torch.exp(dt[:, t] * A)[:, :, None, None] * s + \
            (dt[:, t, :, None] * x[:, t])[..., None] * Bh[:, t, :, None, :]
        acc.add(s)
    return acc


def sequences(tok, files, seq_len):
    out = []
    for f in files:
        ids = tok.encode(open(f, encoding="utf-8").read(), add_special_tokens=False).ids
        out += [ids[i:i + seq_len] for i in range(0, len(ids), seq_len)]
    return out


def reference(model_dir, tokenizer, files, seq_len):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64).eval()
    cfg = model.config
    mamba2 = cfg.model_type == "mamba2"
    falcon = cfg.model_type == "falcon_mamba"
    layers = model.backbone.layers
    acts, states = defaultdict(Acc), defaultdict(StateAcc)
    captured = {}

    def pre(name):
        return lambda mod, args: captured.__setitem__(name, args[0])

    def post(name):
        return lambda mod, args, out: captured.__setitem__(name, out)

    for i, layer in enumerate(layers):
        m = layer.mixer
        m.in_proj.register_forward_pre_hook(pre((i, "in_proj.input")))
        m.out_proj.register_forward_pre_hook(pre((i, "out_proj.input")))
        m.in_proj.register_forward_hook(post((i, "in_proj.output")))
        if not mamba2:
            m.x_proj.register_forward_pre_hook(pre((i, "x_proj.input")))
            m.x_proj.register_forward_hook(post((i, "x_proj.output")))
    tok = Tokenizer.from_file(tokenizer)
    seqs = sequences(tok, files, seq_len)
    total = 0
    with torch.no_grad():
        for ids in seqs:  # one sequence at a time: lengths differ, no padding anywhere
            captured.clear()
            model(torch.tensor([ids]), use_cache=False)
            total += len(ids)
            for i, layer in enumerate(layers):
                m = layer.mixer
                acts[f"layers.{i}.in_proj.input"].add(captured[(i, "in_proj.input")])
                acts[f"layers.{i}.out_proj.input"].add(captured[(i, "out_proj.input")])
                if mamba2:
                    st = mamba2_layer_states(m, captured[(i, "in_proj.output")], len(ids))
                else:
                    x = captured[(i, "x_proj.input")]
                    acts[f"layers.{i}.x_proj.input"].add(x)
                    st, dt_in = mamba1_layer_states(m, x, captured[(i, "x_proj.output")], falcon,
                                                    getattr(cfg, "mixer_rms_eps", 1e-6))
                    acts[f"layers.{i}.dt_proj.input"].add(dt_in)
                key = f"layers.{i}.ssm.state"
                s = states[key]
                if s.absmax is None:
                    s.absmax, s.sum_abs, s.count = st.absmax, st.sum_abs, st.count
                else:
                    s.absmax = torch.maximum(s.absmax, st.absmax)
                    s.sum_abs, s.count = s.sum_abs + st.sum_abs, s.count + st.count
    ref = {}
    for k, a in acts.items():
        for stat, v in a.stats().items():
            ref[f"{k}.{stat}"] = v.numpy()
    for k, s in states.items():
        ref[f"{k}.absmax"] = s.absmax.numpy()
        ref[f"{k}.mean_abs"] = (s.sum_abs / s.count).numpy()
    return ref, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model"); ap.add_argument("tokenizer"); ap.add_argument("stats")
    ap.add_argument("--file", action="append", required=True)
    ap.add_argument("--seq-len", type=int, required=True)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--hist-moved", type=float, default=1e-3)
    args = ap.parse_args()
    ref, total = reference(args.model, args.tokenizer, args.file, args.seq_len)
    ours = load_file(args.stats)
    worst, where, failed = defaultdict(float), {}, False
    missing = [k for k in ref if k not in ours]
    if missing:
        print("missing in the statistics file:", missing[:5]); sys.exit(1)
    for k, r in ref.items():
        o = ours[k].astype(np.float64).reshape(r.shape)
        stat = k.rsplit(".", 1)[1]
        if stat == "count":
            err = float(np.abs(o - r).max())
        elif stat == "hist":
            err = float(np.abs(o - r).sum() / 2 / max(1.0, r.sum()))
        else:
            scale = max(float(np.abs(r).max()) * 1e-3, 1e-300)
            err = float((np.abs(o - r) / np.maximum(np.abs(r), scale)).max())
        if stat not in where or err > worst[stat]:
            worst[stat], where[stat] = err, k
    print(f"{total} tokens, {len(ref)} tensors compared with the float64 reference")
    for stat in sorted(worst):
        limit = 0 if stat == "count" else args.hist_moved if stat == "hist" else args.rtol
        ok = worst[stat] <= limit
        failed |= not ok
        print(f"  {stat:9s} worst {worst[stat]:.2e} (budget {limit:.0e}) {'ok' if ok else 'EXCEEDED'}  {where[stat]}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
