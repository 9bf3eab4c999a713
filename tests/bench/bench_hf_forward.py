#!/usr/bin/env python3
"""HF transformers forward throughput on random-init weights of a preset's shapes: the baseline
that `mambascope-cli bench forward` is compared with (run by tests/bench/run_forward_bench.sh).

    python tests/bench/bench_hf_forward.py --preset mamba-130m --device cpu --batch 1 --seq-len 512
prints one JSON object. Without mamba_ssm/causal-conv1d installed, HF uses its reference path
(sequential scan for Mamba-1, chunked SSD for Mamba-2), which is what users without CUDA kernels get.
"""
import argparse
import json
import os
import statistics
import time

import torch
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM

PRESETS = {
    "mamba-130m": (1, 768, 24), "mamba-370m": (1, 1024, 48), "mamba-790m": (1, 1536, 48),
    "mamba-1.4b": (1, 2048, 48), "mamba-2.8b": (1, 2560, 64),
    "mamba2-130m": (2, 768, 24), "mamba2-370m": (2, 1024, 48), "mamba2-780m": (2, 1536, 48),
    "mamba2-1.3b": (2, 2048, 48), "mamba2-2.7b": (2, 2560, 64),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mamba-130m", choices=sorted(PRESETS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    family, d, layers = PRESETS[a.preset]
    if family == 1:
        model = MambaForCausalLM(MambaConfig(vocab_size=50280, hidden_size=d, num_hidden_layers=layers,
                                             state_size=16))
    else:
        model = Mamba2ForCausalLM(Mamba2Config(vocab_size=50288, hidden_size=d, num_hidden_layers=layers,
                                               state_size=128, head_dim=64, num_heads=2 * d // 64,
                                               n_groups=1, tie_word_embeddings=True))
    dtype = torch.float32 if a.dtype == "fp32" else torch.bfloat16
    model = model.to(a.device, dtype).eval()
    ids = torch.randint(0, 50277, (a.batch, a.seq_len), device=a.device)

    def sync():
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()

    with torch.no_grad():
        model(ids, use_cache=False)
        sync()
        secs = []
        for _ in range(a.iters):
            t = time.perf_counter()
            model(ids, use_cache=False)
            sync()
            secs.append(time.perf_counter() - t)
    med = statistics.median(secs)
    print(json.dumps({"bench": "forward", "tool": "hf-transformers",
                      "transformers": __import__("transformers").__version__,
                      "torch": torch.__version__, "preset": a.preset, "device": a.device,
                      "threads": torch.get_num_threads(), "dtype": a.dtype, "batch": a.batch,
                      "seq_len": a.seq_len, "iterations_s": secs, "median_s": med,
                      "tokens_per_s": a.batch * a.seq_len / med}))


if __name__ == "__main__":
    main()
