#!/usr/bin/env python3
"""HF transformers as a calibration engine: the peer that `mambascope-cli bench calibrate` is
measured against (run_calibrate_bench.sh runs both on one GPU in one run).

A model of a preset's shapes with random weights (or a directory written by `mambascope-cli
init-random`), per-channel absmax forward hooks on the input and the output of every nn.Linear
that the forward calls, no_grad, use_cache=False; warm-up passes, then timed passes each closed
by torch.cuda.synchronize. Prints one JSON object per (preset, dtype), one per line.

    python tests/bench/bench_hf_calibrate.py --preset mamba-130m,mamba2-130m --dtype fp32,bf16 \
        --device cuda --batch 8 --seq-len 1024 [--peers on|off|auto] [--iters 5 --warmup 2]

--peers on requires mamba_ssm + causal_conv1d on PYTHONPATH (build_peers_on_gpu.sh) and fails if
HF would not call them; off hides them so HF runs its torch reference path; auto takes what is
there. Several presets in one process share the import and Triton's autotuning.

Statistics cover the backbone (the quant points `layers.{i}.{module}.{site}`); the LM head and
its logits are computed only with --lm-head. HF's eval forward multiplies by dt_proj.weight
directly instead of calling dt_proj, so Mamba-1's dt_proj hook never fires (reported as
hooked_linears vs fired_per_forward).
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_peers  # noqa: E402
import roofline  # noqa: E402


class AbsmaxHooks:
    """Running per-channel max |x| of every hooked Linear's input and output, in fp32."""

    def __init__(self, model, stats):
        self.stats, self.bufs, self.fired, self.handles = stats, {}, 0, []
        for name, mod in model.named_modules():
            if isinstance(mod, __import__("torch").nn.Linear):
                self.handles.append(mod.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        import torch

        def reduce(t, key):
            t = t.reshape(-1, t.shape[-1])  # tokens x channels
            if self.stats == "absmax":
                vals = {"absmax": t.abs().amax(dim=0)}
            else:  # the per-channel set of our statistics file: absmax, min, max, sum, sumsq
                mn, mx = t.aminmax(dim=0)
                tf = t.float()
                vals = {"absmax": torch.maximum(mn.abs(), mx.abs()), "min": mn, "max": mx,
                        "sum": tf.sum(dim=0), "sumsq": (tf * tf).sum(dim=0)}
            for stat, v in vals.items():
                k = f"{key}.{stat}"
                v = v.float()
                old = self.bufs.get(k)
                if old is None:
                    self.bufs[k] = v.clone()
                elif stat in ("absmax", "max"):
                    torch.maximum(old, v, out=old)
                elif stat == "min":
                    torch.minimum(old, v, out=old)
                else:
                    old += v

        def hook(mod, args, out):
            self.fired += 1
            reduce(args[0].detach(), f"{name}.input")
            reduce(out.detach(), f"{name}.output")
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def build_model(preset, model_dir, device, dtype):
    import torch
    from transformers import (AutoModelForCausalLM, Mamba2Config, Mamba2ForCausalLM, MambaConfig,
                              MambaForCausalLM)
    if model_dir:
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    s = roofline.shapes(preset)
    if s["family"] == "mamba":
        cfg = MambaConfig(vocab_size=s["vocab"], hidden_size=s["d"], num_hidden_layers=s["layers"],
                          state_size=s["N"], expand=2, conv_kernel=roofline.D_CONV,
                          time_step_rank=s["R"], tie_word_embeddings=True, use_cache=False)
        cls = MambaForCausalLM
    else:
        cfg = Mamba2Config(vocab_size=s["vocab"], hidden_size=s["d"], num_hidden_layers=s["layers"],
                           state_size=s["N"], expand=2, conv_kernel=roofline.D_CONV, head_dim=s["P"],
                           num_heads=s["H"], n_groups=s["G"], chunk_size=roofline.CHUNK,
                           tie_word_embeddings=True, use_cache=False)
        cls = Mamba2ForCausalLM
    torch.manual_seed(0)
    # Initialising on the device keeps a 2.8B model's set-up to seconds.
    with torch.device(device):
        model = cls(cfg)
    return model.to(dtype).eval()


def run_one(a, preset, dtype_name, gpu_name):
    import torch
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    dtype = torch.float32 if dtype_name == "fp32" else torch.bfloat16

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    t0 = time.perf_counter()
    model = build_model(preset, a.model, dev, dtype)
    family = "mamba2" if "Mamba2" in type(model).__name__ else "mamba"
    hooks = AbsmaxHooks(model if a.lm_head else model.backbone, a.stats)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    g = torch.Generator(device="cpu").manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq_len), generator=g).to(dev)
    run = (lambda: model(ids, use_cache=False)) if a.lm_head else (lambda: model.backbone(ids, use_cache=False))
    sync()
    setup_s = time.perf_counter() - t0
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(a.warmup):
            run()
        sync()
        warmup_s = time.perf_counter() - t0
        hooks.fired = 0
        secs = []
        for _ in range(a.iters):
            t = time.perf_counter()
            run()
            sync()
            secs.append(time.perf_counter() - t)
    fired = hooks.fired // max(1, a.iters)
    n_hooked = len(hooks.handles)
    finite = all(bool(torch.isfinite(v).all()) for k, v in hooks.bufs.items() if k.endswith("absmax"))
    hooks.remove()
    med = statistics.median(secs)
    tok_s = a.batch * a.seq_len / med
    rep = {"bench": "calibrate", "tool": "hf-transformers",
           "transformers": __import__("transformers").__version__, "torch": torch.__version__,
           "preset": preset if not a.model else os.path.basename(a.model.rstrip("/")),
           "family": family, "device": gpu_name or "cpu", "dtype": dtype_name,
           "batch": a.batch, "seq_len": a.seq_len, "stats": a.stats, "lm_head": a.lm_head,
           "peers": a.peers, "paths": hf_peers.active_paths(family), "fast_path": hf_peers.fast_path(family),
           "hooked_linears": n_hooked, "fired_per_forward": fired, "stat_tensors": len(hooks.bufs),
           "stats_finite": finite, "weight_bytes": weight_bytes, "setup_s": setup_s, "warmup_s": warmup_s,
           "iterations_s": secs, "median_s": med, "tokens_per_s": tok_s,
           "peak_gpu_bytes": torch.cuda.max_memory_allocated(dev) if cuda else None,
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "threads": torch.get_num_threads(), "fp32_matmul": torch.get_float32_matmul_precision()}
    if not a.model:
        rep["roofline"] = roofline.annotate(preset, dtype_name, a.batch, a.seq_len, tok_s, gpu_name, a.lm_head)
    del model, hooks
    if cuda:
        torch.cuda.empty_cache()
    return rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="mamba-130m", help="comma-separated; see roofline.PRESETS")
    ap.add_argument("--model", default="", help="a model directory instead of a preset")
    ap.add_argument("--dtype", default="fp32", help="comma-separated: fp32, bf16")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--peers", default="auto", choices=["on", "off", "auto"])
    ap.add_argument("--stats", default="absmax", choices=["absmax", "full"])
    ap.add_argument("--lm-head", action="store_true", help="also compute logits and hook lm_head")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tf32", action="store_true", help="let fp32 matmuls use TF32 (torch default: off)")
    a = ap.parse_args()
    presets = [p for p in a.preset.split(",") if p] if not a.model else [""]
    dtypes = [d for d in a.dtype.split(",") if d]
    bad = [p for p in presets if p and p not in roofline.PRESETS] + [d for d in dtypes if d not in ("fp32", "bf16")]
    if bad:
        sys.exit(f"bench_hf_calibrate.py: unknown preset or dtype '{bad[0]}' "
                 f"(presets: {', '.join(roofline.PRESETS)}; dtypes: fp32, bf16)")
    if min(a.batch, a.seq_len, a.iters) < 1 or a.warmup < 0:
        sys.exit("bench_hf_calibrate.py: --batch, --seq-len and --iters must be >= 1, --warmup >= 0")
    if a.model and not (Path(a.model) / "config.json").is_file():
        sys.exit(f"bench_hf_calibrate.py: {a.model}: no config.json (not an HF model directory)")
    if a.peers == "auto" and not a.device.startswith("cuda"):
        a.peers = "off"  # the peer kernels are CUDA-only; on CPU HF must take its torch path
    if a.peers == "off":
        hf_peers.hide_peers()
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.tf32:
        torch.set_float32_matmul_precision("high")
    gpu_name = None
    if a.device.startswith("cuda"):
        if not torch.cuda.is_available():
            sys.exit("bench_hf_calibrate.py: --device cuda but torch sees no GPU")
        gpu_name = torch.cuda.get_device_name(torch.device(a.device))
    if a.peers == "on":
        for fam in ("mamba", "mamba2"):
            if not hf_peers.fast_path(fam):
                sys.exit(f"bench_hf_calibrate.py: --peers on but HF {fam} would run "
                         f"{hf_peers.active_paths(fam)} (PYTHONPATH lacks .peers/site? run build_peers_on_gpu.sh)")
    failed = 0
    for preset in presets:
        for dt in dtypes:
            try:
                rep = run_one(a, preset, dt, gpu_name)
            except Exception as e:  # one failing size or kernel must not lose the rest of the matrix
                rep = {"bench": "calibrate", "tool": "hf-transformers", "preset": preset, "dtype": dt,
                       "batch": a.batch, "seq_len": a.seq_len, "peers": a.peers,
                       "error": f"{type(e).__name__}: {str(e).strip()}"[:300]}
                print(f"hf {preset} {dt}: {rep['error']}", file=sys.stderr, flush=True)
                failed += 1
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            print(json.dumps(rep), flush=True)
            if "error" not in rep:
                print(f"hf {rep['preset']:12s} {dt:4s} peers={a.peers:4s} fast={rep['fast_path']!s:5s} "
                      f"{rep['tokens_per_s']:12,.0f} tok/s  peak "
                      f"{(rep['peak_gpu_bytes'] or rep['peak_rss_bytes']) / 2**30:6.2f} GiB", file=sys.stderr, flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
