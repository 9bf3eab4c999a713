#!/usr/bin/env python3
"""Does a demo model degrade visibly under W4 / A8 / H4? A plain-PyTorch check, run on the CPU:

    python resources/training/quant_check.py resources/models/demo-mamba resources/models/demo-mamba2

Perplexity on held-out Austen (the last 5% of the tokens, 16 x 512 tokens) for the float model and
for simple round-to-nearest schemes: W4 (symmetric, per output channel, on in/x/dt/out_proj), A8
(symmetric, dynamic per token, on the inputs of those Linears), H4 (the cached SSM state
quantized at every step, symmetric per tensor, Q-Mamba's baseline; the output y_t reads the
unquantized state, the next step reads the quantized one). This is the evidence that the demo
models show the phenomenon the app teaches; the product's quantizers (issue 5) reproduce and
extend it in C++.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_demo as td  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def q_sym(x, bits, dim):
    qmax = 2 ** (bits - 1) - 1
    s = x.abs().amax(dim=dim, keepdim=True).clamp(min=1e-12) / qmax
    return torch.clamp(torch.round(x / s), -qmax - 1, qmax) * s


class Scheme:
    def __init__(self, w=None, a=None, h=None):
        self.w, self.a, self.h = w, a, h

    def name(self):
        parts = [f"W{self.w}" if self.w else "", f"A{self.a}" if self.a else "", f"H{self.h}" if self.h else ""]
        return "".join(parts) or "float"


def sequential_scan(log_a, b, C, h_bits):
    """s_t = exp(log_a_t) s_{t-1} + b_t; returns y_t = <s_t, C_t> summed over the last axis, with
    the state that the next step reads quantized to h_bits (per tensor, per sequence, per step)."""
    T = b.shape[1]
    s = torch.zeros_like(b[:, 0])
    ys = []
    for t in range(T):
        s = torch.exp(log_a[:, t]) * s + b[:, t]
        ys.append((s * C[:, t]).sum(-1))
        if h_bits:
            dims = tuple(range(1, s.dim()))
            s = q_sym(s, h_bits, dims)
    return torch.stack(ys, 1)


def forward(model, ids, sch):
    """The demo LM's forward (train_demo.LM) with fake quantization inserted."""
    def lin(layer, x, bias=True):
        if sch.a:
            x = q_sym(x, sch.a, -1)
        return F.linear(x, layer.weight, layer.bias if bias else None)

    r = model.emb(ids).float()
    for w, m in zip(model.norms, model.mixers):
        h = td.rms_norm(r, w, 1e-5)
        T = h.shape[1]
        if isinstance(m, td.Mamba1Mixer):
            x, z = lin(m.in_proj, h).chunk(2, -1)
            x = F.silu(m.conv1d(x.transpose(1, 2))[..., :T].transpose(1, 2))
            dt, Bm, Cm = lin(m.x_proj, x).split([m.R, m.N, m.N], -1)
            dt = F.softplus(lin(m.dt_proj, dt))
            A = -torch.exp(m.A_log)
            y = sequential_scan(dt[..., None] * A, dt[..., None] * Bm[:, :, None, :] * x[..., None],
                                Cm[:, :, None, :], sch.h) + x * m.D
            y = y * F.silu(z)
        else:
            Bsz, E, N, H, P = h.shape[0], m.E, m.N, m.H, m.P
            z, xbc, dt = lin(m.in_proj, h).split([E, E + 2 * N, H], -1)
            xbc = F.silu(m.conv1d(xbc.transpose(1, 2))[..., :T].transpose(1, 2))
            x, Bm, Cm = xbc.split([E, N, N], -1)
            dt = F.softplus(dt + m.dt_bias)
            A = -torch.exp(m.A_log)
            xh = x.view(Bsz, T, H, P)
            b = (dt[..., None] * xh)[..., None] * Bm[:, :, None, None, :]
            y = sequential_scan((dt * A)[..., None, None], b, Cm[:, :, None, None, :], sch.h)
            y = (y + xh * m.D[:, None]).reshape(Bsz, T, E) * F.silu(z)
            y = m.norm_weight * (y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-5))
        r = r + lin(m.out_proj, y)
    return F.linear(td.rms_norm(r, model.norm_f, 1e-5), model.emb.weight)


@torch.no_grad()
def perplexity(model, rows, sch):
    logits = forward(model, rows[:, :-1], sch)
    return math.exp(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1)).item())


@torch.no_grad()
def main():
    torch.set_num_threads(os.cpu_count() or 1)
    val = np.load(os.path.join(HERE, "data", "austen-val.npy")).astype(np.int64)
    rows = torch.from_numpy(val[: 16 * 513]).view(16, 513)
    schemes = [Scheme(), Scheme(w=8), Scheme(w=4), Scheme(a=8), Scheme(h=8), Scheme(h=4),
               Scheme(w=4, a=8, h=4)]
    report = {}
    for path in sys.argv[1:]:
        family = json.load(open(os.path.join(path, "config.json")))["model_type"]
        base = td.load_hf(family, path, "cpu")
        res = {}
        for sch in schemes:
            model = td.load_hf(family, path, "cpu")
            if sch.w:
                for m in model.mixers:
                    for lin in (m.in_proj, getattr(m, "x_proj", None), getattr(m, "dt_proj", None), m.out_proj):
                        if lin is not None:
                            lin.weight.copy_(q_sym(lin.weight, sch.w, -1))
            res[sch.name()] = perplexity(model, rows, sch)
            print(f"{os.path.basename(path)} {sch.name():8s} ppl {res[sch.name()]:.2f}", flush=True)
        del base
        report[os.path.basename(path.rstrip('/'))] = res
    json.dump(report, open(os.path.join(HERE, "demo-quant-check.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
