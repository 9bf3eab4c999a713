#!/usr/bin/env python3
"""Train MambaScope's demo models (a Mamba-1 and a Mamba-2) on Jane Austen, on one GPU.

    python resources/training/train_demo.py --data resources/training/data --out OUT [--seconds 200]

The modules below define the same forward as HF transformers' MambaForCausalLM /
Mamba2ForCausalLM (and so as MambaScope's engine), with the selective scan computed by a
log-depth parallel prefix scan so that training is fast in plain PyTorch (no mamba_ssm kernels on
our machines). After training, the script saves each model in the HF layout (config.json +
model.safetensors in fp16 + tokenizer.json), reloads it with transformers and checks that the
logits agree with its own, and reports: training and validation loss curves, held-out perplexity
on Moby Dick against the unigram baseline, greedy samples, and the outlier channels (> 6 sigma
above the layer mean of channel absmax, METHODS.md section 2) at in_proj/x_proj/out_proj inputs.
Nothing is planted: the outliers are whatever training produces.
"""
import argparse
import json
import math
import os
import shutil
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint


def rms_norm(x, w, eps):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def prefix_scan(log_a, b):
    """s_t = exp(log_a_t) * s_{t-1} + b_t along dim 1, s_0 = 0, in log2(T) elementwise steps
    (Hillis-Steele). log_a broadcasts against b."""
    T = b.shape[1]
    la = log_a  # kept at its own (possibly broadcast) shape: Mamba-2's is [B, T, H, 1, 1]
    off = 1
    while off < T:
        b = torch.cat([b[:, :off], b[:, off:] + torch.exp(la[:, off:]) * b[:, :-off]], 1)
        la = torch.cat([la[:, :off], la[:, off:] + la[:, :-off]], 1)
        off *= 2
    return b


class Mamba1Mixer(nn.Module):
    def __init__(self, d, E, N, R, K):
        super().__init__()
        self.E, self.N, self.R = E, N, R
        self.in_proj = nn.Linear(d, 2 * E, bias=False)
        self.conv1d = nn.Conv1d(E, E, K, groups=E, padding=K - 1, bias=True)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d, bias=False)
        dt = torch.exp(torch.rand(E) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            nn.init.uniform_(self.dt_proj.weight, -R ** -0.5, R ** -0.5)

    def forward(self, h, taps=None, i=0):
        T = h.shape[1]
        if taps is not None:
            taps[f"layers.{i}.in_proj.input"] = h
        x, z = self.in_proj(h).chunk(2, -1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :T].transpose(1, 2))
        if taps is not None:
            taps[f"layers.{i}.x_proj.input"] = x
        dt, Bm, Cm = self.x_proj(x).split([self.R, self.N, self.N], -1)
        if taps is not None:
            taps[f"layers.{i}.dt_proj.input"] = dt
        dt = F.softplus(dt @ self.dt_proj.weight.t() + self.dt_proj.bias.float())  # [B,T,E]
        A = -torch.exp(self.A_log.float())
        xf = x.float()
        s = prefix_scan(dt[..., None] * A, dt[..., None] * Bm.float()[:, :, None, :] * xf[..., None])
        if taps is not None:
            taps[f"layers.{i}.ssm.state"] = s  # [B, T, E, N]
        y = (s * Cm.float()[:, :, None, :]).sum(-1) + xf * self.D
        y = y * F.silu(z.float())
        if taps is not None:
            taps[f"layers.{i}.out_proj.input"] = y
        return self.out_proj(y.to(h.dtype))


class Mamba2Mixer(nn.Module):
    def __init__(self, d, E, N, P, K):
        super().__init__()
        self.E, self.N, self.P, self.H = E, N, P, E // P
        conv_dim = E + 2 * N
        self.in_proj = nn.Linear(d, 2 * E + 2 * N + self.H, bias=False)
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, K, groups=conv_dim, padding=K - 1, bias=True)
        dt = torch.exp(torch.rand(self.H) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.H).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(self.H))
        self.norm_weight = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d, bias=False)

    def forward(self, h, taps=None, i=0):
        Bsz, T, _ = h.shape
        E, N, H, P = self.E, self.N, self.H, self.P
        if taps is not None:
            taps[f"layers.{i}.in_proj.input"] = h
        z, xbc, dt = self.in_proj(h).split([E, E + 2 * N, H], -1)
        xbc = F.silu(self.conv1d(xbc.transpose(1, 2))[..., :T].transpose(1, 2))
        x, Bm, Cm = xbc.split([E, N, N], -1)
        dt = F.softplus(dt.float() + self.dt_bias)  # [B,T,H]
        A = -torch.exp(self.A_log.float())
        xf = x.float().view(Bsz, T, H, P)
        b = (dt[..., None] * xf)[..., None] * Bm.float()[:, :, None, None, :]  # [B,T,H,P,N]
        s = prefix_scan((dt * A)[..., None, None], b)
        if taps is not None:
            taps[f"layers.{i}.ssm.state"] = s.reshape(Bsz, T, E, N)  # channels = heads x head_dim
        y = (s * Cm.float()[:, :, None, None, :]).sum(-1) + xf * self.D[:, None]
        g = y.reshape(Bsz, T, E) * F.silu(z.float())
        g = self.norm_weight * (g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + 1e-5))
        if taps is not None:
            taps[f"layers.{i}.out_proj.input"] = g
        return self.out_proj(g.to(h.dtype))


class LM(nn.Module):
    def __init__(self, family, V, d, L, N, K=4, P=64, R=None):
        super().__init__()
        self.family, self.d = family, d
        E = 2 * d
        self.emb = nn.Embedding(V, d)
        nn.init.normal_(self.emb.weight, std=0.02)
        self.norms = nn.ParameterList([nn.Parameter(torch.ones(d)) for _ in range(L)])
        if family == "mamba":
            self.mixers = nn.ModuleList([Mamba1Mixer(d, E, N, R, K) for _ in range(L)])
        else:
            self.mixers = nn.ModuleList([Mamba2Mixer(d, E, N, P, K) for _ in range(L)])
        self.norm_f = nn.Parameter(torch.ones(d))
        for m in self.mixers:  # GPT-2 style: residual branches scaled by 1/sqrt(2L)
            nn.init.normal_(m.out_proj.weight, std=0.02 / math.sqrt(2 * L))

    def forward(self, ids, taps=None):
        r = self.emb(ids).float()
        for i, (w, m) in enumerate(zip(self.norms, self.mixers)):
            if self.training and taps is None:
                # Recompute each layer in the backward pass: the scan's [B, T, E, N] temporaries
                # of all layers would not fit otherwise.
                out = torch.utils.checkpoint.checkpoint(lambda h, m=m: m(h), rms_norm(r, w, 1e-5),
                                                        use_reentrant=False)
            else:
                out = m(rms_norm(r, w, 1e-5), taps, i)
            r = r + out.float()
        return F.linear(rms_norm(r, self.norm_f, 1e-5), self.emb.weight).float()

    def hf_state_dict(self):
        sd = {"backbone.embeddings.weight": self.emb.weight, "backbone.norm_f.weight": self.norm_f}
        for i, (w, m) in enumerate(zip(self.norms, self.mixers)):
            p = f"backbone.layers.{i}."
            sd[p + "norm.weight"] = w
            for k, v in m.named_parameters():
                if k == "norm_weight":
                    k = "norm.weight"
                sd[p + "mixer." + k] = v
        return {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in sd.items()}


def hf_config(family, V, d, L, N, R, eos):
    """The HF config.json of a trained model (both families, fp16 weights, tied head)."""
    c = {"model_type": family, "hidden_size": d, "num_hidden_layers": L, "vocab_size": V,
         "state_size": N, "conv_kernel": 4, "expand": 2, "layer_norm_epsilon": 1e-5,
         "use_bias": False, "use_conv_bias": True, "residual_in_fp32": True,
         "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": eos,
         "eos_token_id": eos, "pad_token_id": eos, "torch_dtype": "float16"}
    if family == "mamba":
        c.update(architectures=["MambaForCausalLM"], intermediate_size=2 * d, time_step_rank=R)
    else:
        c.update(architectures=["Mamba2ForCausalLM"], num_heads=2 * d // 64, head_dim=64,
                 n_groups=1, chunk_size=256, rms_norm=True,
                 time_step_limit=[0.0, {"__float__": "Infinity"}])
    return c


@torch.no_grad()
def evaluate(model, ids, ctx, batch, dev):
    n = (len(ids) - 1) // ctx
    x = torch.from_numpy(ids[: n * ctx + 1].astype(np.int64))
    nll, cnt = 0.0, 0
    for s in range(0, n, batch):
        rows = torch.stack([x[j * ctx:(j + 1) * ctx + 1] for j in range(s, min(n, s + batch))]).to(dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            logits = model(rows[:, :-1])
        nll += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1),
                               reduction="sum").item()
        cnt += rows[:, 1:].numel()
    return nll / cnt


@torch.no_grad()
def greedy(model, ids, n, dev):
    x = torch.tensor([ids], device=dev)
    for _ in range(n):
        nxt = model(x)[0, -1].argmax().item()
        x = torch.cat([x, torch.tensor([[nxt]], device=dev)], 1)
    return x[0, len(ids):].tolist()


@torch.no_grad()
def outliers(model, ids, dev):
    """Per quant point: channel absmax over 4 x 1024 held-out tokens, the channels more than 6 sigma
    above the layer mean (METHODS.md section 2), and max/mean. For the state, a channel is a row
    of [E, N] (its absmax over tokens and state index): how uneven DSQ's channel scales must be."""
    taps = {}
    model(torch.from_numpy(ids[:4096].astype(np.int64)).view(4, 1024).to(dev), taps)
    out = {}
    for k, v in taps.items():
        dims = (0, 1, 3) if k.endswith("ssm.state") else (0, 1)
        am = v.float().abs().amax(dim=dims)
        mu, sd = am.mean(), am.std(unbiased=False)
        ch = torch.nonzero(am > mu + 6 * sd).flatten().tolist()
        out[k] = {"channels": am.numel(), "outliers": ch, "max_over_mean": (am.max() / mu).item(),
                  "cv": (sd / mu).item()}
    return out


def load_hf(family, path, dev):
    """Rebuilds an LM from a saved demo checkpoint (for --analyze)."""
    from safetensors.torch import load_file
    cfg = json.load(open(os.path.join(path, "config.json")))
    sd = load_file(os.path.join(path, "model.safetensors"))
    d, L, N, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["state_size"], cfg["vocab_size"]
    model = LM(family, V, d, L, N, R=cfg.get("time_step_rank"))
    with torch.no_grad():
        model.emb.weight.copy_(sd["backbone.embeddings.weight"].float())
        model.norm_f.copy_(sd["backbone.norm_f.weight"].float())
        for i, (w, m) in enumerate(zip(model.norms, model.mixers)):
            p = f"backbone.layers.{i}."
            w.copy_(sd[p + "norm.weight"].float())
            for k, v in m.named_parameters():
                v.copy_(sd[p + "mixer." + ("norm.weight" if k == "norm_weight" else k)].float())
    return model.to(dev).eval()


def train(family, args, data, meta, tok, dev):
    torch.manual_seed(args.seed)
    V, d, L = meta["vocab_size"], args.d_model, args.layers
    N = 16 if family == "mamba" else args.mamba2_state
    R = math.ceil(d / 16)
    model = LM(family, V, d, L, N, R=R).to(dev)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    train_ids = torch.from_numpy(data["train"].astype(np.int64))
    T, B = args.ctx, args.batch
    est_steps = args.max_steps
    log = {"family": family, "params": params, "steps": [], "train_loss": [], "val_loss": []}
    t0, step, best = time.time(), 0, float("inf")
    g = torch.Generator().manual_seed(args.seed)
    best_state = None
    while step < est_steps and time.time() - t0 < args.seconds:
        # Cosine decay to 10% over whichever budget (steps or seconds) runs out first.
        progress = min(1.0, max(step / est_steps, (time.time() - t0) / args.seconds))
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        starts = torch.randint(0, len(train_ids) - T - 1, (B,), generator=g)
        rows = torch.stack([train_ids[s:s + T + 1] for s in starts.tolist()]).to(dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
            logits = model(rows[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, V), rows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0 or step == 1:
            log["steps"].append(step)
            log["train_loss"].append(loss.item())
            vl = None
            if step % 200 == 0:
                model.eval()
                vl = evaluate(model, data["val"], T, 32, dev)
                model.train()
            log["val_loss"].append(vl)
            if vl is not None and vl < best:
                best = vl
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            print(f"{family} step {step} loss {loss.item():.3f} val {vl} lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    vl = evaluate(model, data["val"], T, 32, dev)
    if vl < best:
        best = vl
    elif best_state is not None:
        model.load_state_dict(best_state)
    log["train_seconds"] = time.time() - t0
    log["total_steps"] = step
    log["tokens_seen"] = step * B * T
    log["best_val_loss"] = best
    moby_nll = evaluate(model, data["moby"], 1024, 16, dev)
    log["moby_ppl_ctx1024"] = math.exp(moby_nll)
    log["unigram_ppl_moby"] = meta["unigram_ppl_moby"]
    log["outliers"] = outliers(model, data["val"], dev)
    prompts = ["It is a truth universally acknowledged", "Call me Ishmael.", "Mr. Darcy",
               "The whale"]
    log["samples"] = {p: tok.decode(greedy(model, tok.encode(p).ids, 40, dev)) for p in prompts}
    return model, log


def save_hf(model, family, args, meta, out_dir, tok_path):
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    save_file(model.hf_state_dict(), os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    cfg = hf_config(family, meta["vocab_size"], args.d_model, args.layers,
                    16 if family == "mamba" else args.mamba2_state, math.ceil(args.d_model / 16),
                    meta["eos_id"])
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    shutil.copy(tok_path, os.path.join(out_dir, "tokenizer.json"))


@torch.no_grad()
def check_with_transformers(model, out_dir, ids, dev):
    """Our module and transformers, on the saved fp16 weights, in fp32: the same function."""
    from transformers import AutoModelForCausalLM
    hf = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32).to(dev).eval()
    ours = model.float().eval()
    for p in ours.parameters():  # compare on the rounded weights that were saved
        p.data = p.data.half().float()
    x = torch.from_numpy(ids[:300].astype(np.int64)).view(1, -1).to(dev)
    a, b = ours(x), hf(x).logits.float()
    return ((a - b).abs() / b.abs().clamp(min=1)).max().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--families", default="mamba,mamba2")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--max-steps", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mamba2-state", type=int, default=32)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--analyze", nargs="*", default=None,
                    help="Only report outliers and state channel scales of saved demo models")
    args = ap.parse_args()
    from tokenizers import Tokenizer
    dev = args.device
    meta = json.load(open(os.path.join(args.data, "meta.json")))
    tok_path = os.path.join(args.data, "tokenizer.json")
    tok = Tokenizer.from_file(tok_path)
    data = {k: np.load(os.path.join(args.data, f)) for k, f in
            (("train", "austen-train.npy"), ("val", "austen-val.npy"), ("moby", "moby.npy"))}
    if args.analyze is not None:
        result = {}
        for path in args.analyze:
            family = json.load(open(os.path.join(path, "config.json")))["model_type"]
            result[os.path.basename(path.rstrip("/"))] = outliers(load_hf(family, path, dev), data["val"], dev)
        print(json.dumps(result, indent=1))
        return
    report = {"args": vars(args), "data": meta, "models": {},
              "device": torch.cuda.get_device_name(0) if dev == "cuda" else dev}
    for family in args.families.split(","):
        model, log = train(family, args, data, meta, tok, dev)
        name = "demo-mamba" if family == "mamba" else "demo-mamba2"
        out_dir = os.path.join(args.out, name)
        save_hf(model, family, args, meta, out_dir, tok_path)
        log["hf_logits_max_rel_diff"] = check_with_transformers(model, out_dir, data["val"], dev)
        report["models"][name] = log
        print(json.dumps({k: log[k] for k in ("params", "total_steps", "best_val_loss", "moby_ppl_ctx1024",
                                              "unigram_ppl_moby", "hf_logits_max_rel_diff")}), flush=True)
        for p, s in log["samples"].items():
            print(f"  {p!r} -> {s!r}")
        for k, v in log["outliers"].items():
            if v["outliers"]:
                print(f"  outliers {k}: {v['outliers']} (max/mean {v['max_over_mean']:.1f})")
    json.dump(report, open(os.path.join(args.out, "training-report.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
