#!/usr/bin/env python3
"""FLOPs and bytes per token of a calibration forward for each preset, from its shapes alone, and
the share of the GPU's roofline that a measured tokens/s reaches. Used by run_calibrate_bench.sh
to annotate both tools' numbers with one yardstick.

    python tests/bench/roofline.py --preset mamba-130m --dtype bf16 --batch 8 --seq-len 1024

Counting (an estimate of the algorithm's work, not of any one implementation's):
  * a Linear is 2 * in * out FLOPs per token; the depthwise conv 2 * K per channel;
  * Mamba-1 scan: 8 FLOPs per state element (exp(dt*A) 2, dt*B*u 2, the update 2, C.h 2) plus
    10 per channel (softplus, D skip, SiLU gate);
  * Mamba-2 SSD in chunks of Q = 256, as the chunked kernels compute it (full Q x Q tiles):
    C.B^T 2*Q*N*G, the intra-chunk product 2*Q*E, chunk states and their read-out 4*N*E;
  * bytes: the weights, read once per forward and spread over its B*L tokens, plus the activations
    each op reads and writes once (unfused), at the run's element size; hook traffic is not
    counted (it is overhead the tools pay differently);
  * the LM head (2 * vocab * d_model) only when the run computes logits.
Peaks are nominal dense figures (H100 SXM: 989 TFLOP/s bf16, 67 TFLOP/s fp32 without tensor cores,
495 TFLOP/s tf32, 3.35 TB/s; H200: same compute, 4.8 TB/s; H100 PCIe: 756 / 51 / 378, 2.0 TB/s).
"""
import argparse
import json
import math

# name: (family, d_model, layers, d_state, padded vocab, head_dim, groups). expand 2, d_conv 4,
# as mambascope-cli init-random (core/engine/random_init.cpp) builds them.
PRESETS = {
    "mamba-130m": ("mamba", 768, 24, 16, 50280, 0, 0),
    "mamba-370m": ("mamba", 1024, 48, 16, 50280, 0, 0),
    "mamba-790m": ("mamba", 1536, 48, 16, 50280, 0, 0),
    "mamba-1.4b": ("mamba", 2048, 48, 16, 50280, 0, 0),
    "mamba-2.8b": ("mamba", 2560, 64, 16, 50280, 0, 0),
    "mamba2-130m": ("mamba2", 768, 24, 128, 50288, 64, 1),
    "mamba2-370m": ("mamba2", 1024, 48, 128, 50288, 64, 1),
    "mamba2-780m": ("mamba2", 1536, 48, 128, 50288, 64, 1),
    "mamba2-1.3b": ("mamba2", 2048, 48, 128, 50288, 64, 1),
    "mamba2-2.7b": ("mamba2", 2560, 64, 128, 50288, 64, 1),
    "tiny-mamba": ("mamba", 64, 2, 16, 512, 0, 0),
    "tiny-mamba2": ("mamba2", 64, 2, 32, 512, 16, 1),
}
CHUNK = 256
D_CONV = 4
PEAKS = {  # first substring of the device name that matches -> (bf16, fp32, tf32 FLOP/s, bytes/s)
    "H200": (989e12, 67e12, 495e12, 4.8e12),
    "H100 PCIe": (756e12, 51e12, 378e12, 2.0e12),
    "H100": (989e12, 67e12, 495e12, 3.35e12),  # SXM
}


def shapes(preset):
    fam, d, n_layer, N, vocab, P, G = PRESETS[preset]
    E = 2 * d
    s = dict(family=fam, d=d, layers=n_layer, N=N, vocab=vocab, E=E)
    if fam == "mamba":
        s.update(R=math.ceil(d / 16))
    else:
        s.update(P=P, G=G, H=E // P)
    return s


def layer_params(s):
    d, E, N = s["d"], s["E"], s["N"]
    if s["family"] == "mamba":
        R = s["R"]
        return (d + d * 2 * E + E * (D_CONV + 1) + E * (R + 2 * N) + R * E + E + E * N + E + E * d)
    G, H = s["G"], s["H"]
    conv = E + 2 * G * N
    return d + d * (2 * E + 2 * G * N + H) + conv * (D_CONV + 1) + 3 * H + E + E * d


def parameter_count(preset):
    s = shapes(preset)
    return s["layers"] * layer_params(s) + s["vocab"] * s["d"] + s["d"]  # tied embedding


def per_token(preset, dtype, tokens_per_forward, lm_head=False):
    """(FLOPs, bytes) per token of one forward over `tokens_per_forward` tokens."""
    s = shapes(preset)
    d, E, N, esize = s["d"], s["E"], s["N"], (4 if dtype == "fp32" else 2)
    if s["family"] == "mamba":
        R = s["R"]
        linear = 2 * (d * 2 * E + E * (R + 2 * N) + R * E + E * d)
        other = 2 * D_CONV * E + 8 * E * N + 10 * E + 4 * d
        # in_proj, conv, x_proj, dt_proj, scan (u, dt, z, B, C -> y), out_proj, norm, residual.
        act = (d + 2 * E) + 2 * E + (E + R + 2 * N) + (R + E) + (4 * E + 2 * N) + (E + d) + 2 * d + 3 * d
    else:
        G, H = s["G"], s["H"]
        conv = E + 2 * G * N
        linear = 2 * (d * (2 * E + 2 * G * N + H) + E * d)
        other = 2 * D_CONV * conv + 2 * CHUNK * N * G + 2 * CHUNK * E + 4 * N * E + 6 * E + 4 * d
        # in_proj, conv, SSD (x, dt, B, C -> y), gated norm (y, z -> out), out_proj, norm, residual.
        act = (d + 2 * E + 2 * G * N + H) + 2 * conv + (E + H + 2 * G * N + E) + 3 * E + (E + d) + 2 * d + 3 * d
    flops = s["layers"] * (linear + other)
    act_bytes = s["layers"] * act * esize
    weight_bytes = parameter_count(preset) * esize
    if lm_head:
        flops += 2 * s["vocab"] * d
        act_bytes += (d + s["vocab"]) * esize
    return flops, act_bytes + weight_bytes / tokens_per_forward


def annotate(preset, dtype, batch, seq_len, tokens_per_s, gpu_name, lm_head=False):
    """Roofline fields for one measurement (None where the GPU's peaks are not known)."""
    flops, nbytes = per_token(preset, dtype, batch * seq_len, lm_head)
    out = {"flops_per_token": flops, "bytes_per_token": nbytes,
           "arithmetic_intensity": flops / nbytes, "gpu_peaks": None, "roofline_tokens_per_s": None,
           "roofline_share": None, "compute_share": None, "bandwidth_share": None}
    key = next((k for k in PEAKS if gpu_name and k in gpu_name), None)
    if key is None:
        return out
    bf16, fp32, tf32, bw = PEAKS[key]
    peak = bf16 if dtype == "bf16" else fp32
    bound = 1.0 / max(flops / peak, nbytes / bw)
    out.update(gpu_peaks={"name": key, "flops": peak, "bytes_per_s": bw, "tf32_flops": tf32},
               roofline_tokens_per_s=bound, roofline_share=tokens_per_s / bound if tokens_per_s else None,
               compute_share=tokens_per_s * flops / peak if tokens_per_s else None,
               bandwidth_share=tokens_per_s * nbytes / bw if tokens_per_s else None)
    if dtype == "fp32" and tokens_per_s:
        out["compute_share_tf32"] = tokens_per_s * flops / tf32
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--gpu", default="H100")
    ap.add_argument("--tokens-per-s", type=float, default=0.0)
    ap.add_argument("--lm-head", action="store_true")
    a = ap.parse_args()
    rep = annotate(a.preset, a.dtype, a.batch, a.seq_len, a.tokens_per_s, a.gpu, a.lm_head)
    rep.update(preset=a.preset, parameters=parameter_count(a.preset))
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    main()
