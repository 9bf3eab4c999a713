#!/usr/bin/env python3
"""Checks of the calibration benchmark's helpers that run on a CPU machine (the benchmark itself is
a measurement, not an assertion). Exit status 0 when all pass.

    ~/.cache/mambascope/venv-torch-2.11.0/bin/python tests/bench/test_bench_helpers.py

* roofline.py's parameter counts and Linear FLOPs equal those of the HF model that
  bench_hf_calibrate.py builds for every preset (built on the meta device: shapes only);
* the absmax hooks hold, after two batches, exactly the per-channel max |x| of what every Linear
  saw, computed independently in numpy from captured tensors; the full statistics equal numpy's
  min, max, sum and sum of squares;
* with .peers present, HF takes mamba_ssm's Triton SSD for Mamba-2 and hide_peers() sends it back
  to the torch reference (two fresh processes; the choice is made at import).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_hf_calibrate as bench  # noqa: E402
import roofline  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def test_shapes_match_hf():
    for preset in roofline.PRESETS:
        model = bench.build_model(preset, "", torch.device("meta"), torch.float32)
        n = sum(p.numel() for p in model.parameters())
        check(n == roofline.parameter_count(preset), f"{preset}: parameters {n} == roofline {roofline.parameter_count(preset)}")
        lin = sum(m.weight.numel() for name, m in model.backbone.named_modules() if isinstance(m, torch.nn.Linear))
        s = roofline.shapes(preset)
        flops, _ = roofline.per_token(preset, "bf16", 1 << 20)
        # per_token's Linear share, recomputed from HF's modules: 2 FLOPs per weight per token.
        other = (2 * roofline.D_CONV * s["E"] + 8 * s["E"] * s["N"] + 10 * s["E"] + 4 * s["d"]) if s["family"] == "mamba" else (
            2 * roofline.D_CONV * (s["E"] + 2 * s["G"] * s["N"]) + 2 * roofline.CHUNK * s["N"] * s["G"]
            + 2 * roofline.CHUNK * s["E"] + 4 * s["N"] * s["E"] + 6 * s["E"] + 4 * s["d"])
        check(flops - s["layers"] * other == 2 * lin, f"{preset}: Linear FLOPs/token {2 * lin}")
    # A hand case: mamba-130m in_proj 768x3072, x_proj 1536x(48+32), dt_proj 48x1536, out_proj 1536x768.
    check(roofline.shapes("mamba-130m")["R"] == 48, "mamba-130m dt_rank 48")
    lin130 = 24 * 2 * (768 * 3072 + 1536 * 80 + 48 * 1536 + 1536 * 768)
    f, _ = roofline.per_token("mamba-130m", "fp32", 8192)
    check(f == lin130 + 24 * (8 * 1536 + 8 * 1536 * 16 + 10 * 1536 + 4 * 768), "mamba-130m FLOPs/token by hand")


def test_hooks(preset, stats):
    torch.manual_seed(0)
    model = bench.build_model(preset, "", torch.device("cpu"), torch.float32)
    hooks = bench.AbsmaxHooks(model.backbone, stats)
    seen = {}

    def capture(name):
        def h(mod, args, out):
            seen.setdefault(f"{name}.input", []).append(args[0].detach().reshape(-1, args[0].shape[-1]).numpy().copy())
            seen.setdefault(f"{name}.output", []).append(out.detach().reshape(-1, out.shape[-1]).numpy().copy())
        return h
    for name, m in model.backbone.named_modules():
        if isinstance(m, torch.nn.Linear):
            m.register_forward_hook(capture(name))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _ in range(2):
            model.backbone(torch.randint(0, 512, (2, 40), generator=g), use_cache=False)
    keys = sorted(seen)
    check(len(keys) > 0 and all(len(v) == 2 for v in seen.values()), f"{preset}: {len(keys)} hooked sites, 2 batches each")
    exact = True
    for k in keys:
        x = np.concatenate(seen[k]).astype(np.float64)
        want = {"absmax": np.abs(x).max(0)}
        if stats == "full":
            want.update({"min": x.min(0), "max": x.max(0), "sum": x.sum(0), "sumsq": (x * x).sum(0)})
        for stat, v in want.items():
            got = hooks.bufs[f"{k}.{stat}"].double().numpy()
            tol = 0 if stat in ("absmax", "min", "max") else 1e-5 * max(1.0, np.abs(v).max())
            if got.shape != v.shape or np.abs(got - v).max() > tol:
                exact = False
                print(f"     {k}.{stat}: max diff {np.abs(got - v).max()}")
    check(exact and len(hooks.bufs) == len(keys) * (1 if stats == "absmax" else 5),
          f"{preset}: hook statistics ({stats}) equal numpy over {len(keys)} sites")


def test_peer_switch():
    site = HERE.parent.parent / ".peers" / "site"
    if not (site / "mamba_ssm").is_dir():
        print("SKIP peer switch: .peers absent (run tests/bench/prepare_peers.sh)")
        return
    code = ("import sys; sys.path.insert(0, %r); import hf_peers, json; %s"
            "print(json.dumps({f: hf_peers.active_paths(f) for f in ('mamba', 'mamba2')}))")
    env = dict(os.environ, PYTHONPATH=str(site))
    on = json.loads(subprocess.run([sys.executable, "-c", code % (str(HERE), "")], env=env,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1])
    off = json.loads(subprocess.run([sys.executable, "-c", code % (str(HERE), "hf_peers.hide_peers(); ")],
                                    env=env, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    check(on["mamba2"]["mamba2_chunk_scan"] == "mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined",
          f"peers visible: Mamba-2 scan -> {on['mamba2']['mamba2_chunk_scan']} (Triton; needs no build)")
    if (site / "selective_scan_cuda.so").exists() and (site / "causal_conv1d_cuda.so").exists():
        check(on["mamba"] == {"causal_conv1d_fn": "causal_conv1d.causal_conv1d_interface.causal_conv1d_fn",
                              "mamba_selective_scan": "mamba_ssm.ops.selective_scan_interface.selective_scan_fn"},
              f"peers built: Mamba-1 -> {on['mamba']}")
    else:
        print("SKIP Mamba-1 peer paths: extensions not built here (tests/bench/build_peers.py)")
    check(all(v == "torch reference" for fam in off.values() for v in fam.values()), f"peers hidden: {off}")


if __name__ == "__main__":
    test_shapes_match_hf()
    test_hooks("tiny-mamba", "absmax")
    test_hooks("tiny-mamba2", "full")
    test_peer_switch()
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
