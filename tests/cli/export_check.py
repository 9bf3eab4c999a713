#!/usr/bin/env python3
"""Independent checks of our exports, for tests/cli/tst_cli_export.cpp. Prints one JSON line; exit 0
with {"ok": true, ...} or exit 1 with {"ok": false, "problems": [...]} naming each problem.

usage:
  export_check.py packed SRC_MODEL PACKED_DIR HF_FP32_DIR
      Unpacks PACKED_DIR with numpy from the README's byte layout alone (not our reader) and compares
      every tensor, bit for bit, with HF_FP32_DIR (the same scheme exported --format hf --dtype fp32,
      i.e. our fake-quant weights); checks config.json is the source's and that no
      quantization_config crept in; checks code ranges against mambascope.json's bits.
  export_check.py gguf SRC_MODEL GGUF_FILE TYPE [MODULES]
      Reads GGUF_FILE with the `gguf` package: llama.cpp's tensor names and shapes for the
      architecture, metadata against config.json, types (TYPE for quantized rows that are a multiple
      of 32, F16 for the rest of the Linears and the embedding, F32 for conv/A/D/norms/biases), every
      quantized tensor's bytes equal to gguf.quants.quantize of the source AND to a numpy port of
      ggml-quants.c (tests/fixtures/gen_export_gguf.py), A = -exp(A_log), the tokenizer (every vocab
      token at its id, merges in order, padding ids). (Run on the GGUF that llama.cpp's own
      convert_hf_to_gguf.py writes for the fixtures, --outtype f16, this reports only the
      add_bos_token key that we add and it leaves out: same names, shapes, types, metadata, tokens.)
  export_check.py gguf-vs-hf GGUF_FILE HF_DIR
      Every quantized Linear of GGUF_FILE dequantized by gguf.quants equals HF_DIR's weight (an
      export --format hf --gguf-type T --dtype fp32) bit for bit: our fake-quant is ggml's.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import gguf  # noqa: E402
from gen_export_gguf import q4_0_ref, q8_0_ref  # noqa: E402

problems = []


def problem(text):
    if len(problems) < 20:
        problems.append(text)


def finish(**info):
    print(json.dumps({"ok": not problems, "problems": problems, **info}))
    sys.exit(0 if not problems else 1)


def hf_key(stem):
    return stem


def check_packed(src, packed, hf32):
    scheme = json.load(open(Path(packed) / "mambascope.json"))
    pk = scheme["packing"]
    bits, sym, mods = pk["bits"], pk["symmetric"], pk["modules"]
    cfg_src = json.load(open(Path(src) / "config.json"))
    cfg_out = json.load(open(Path(packed) / "config.json"))
    if "quantization_config" in cfg_out:
        problem("config.json has a quantization_config")
    for k in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size", "state_size"):
        if cfg_src.get(k) != cfg_out.get(k):
            problem(f"config.json {k}: {cfg_out.get(k)} != source {cfg_src.get(k)}")
    p = load_file(str(Path(packed) / "model.safetensors"))
    ref = load_file(str(Path(hf32) / "model.safetensors"))
    compared = packed_count = 0
    for name, want in ref.items():
        stem = name[: -len("weight")]
        is_packed = name.endswith(".weight") and any(name.endswith(f".{m}.weight") for m in mods)
        if not is_packed:
            got = p.get(name)
            if got is None:
                problem(f"{name} missing from the packed export")
            elif got.astype(np.float32).tobytes() != want.astype(np.float32).tobytes():
                problem(f"{name} differs")
            compared += 1
            continue
        out_f, in_f = want.shape
        qw = p[stem + "qweight"]
        if bits <= 4:
            if qw.dtype != np.uint8 or qw.shape != (out_f, (in_f + 1) // 2):
                problem(f"{stem}qweight {qw.dtype} {qw.shape}")
                continue
            lo, hi = qw & 0xF, qw >> 4
            codes = np.stack([lo, hi], axis=2).reshape(out_f, -1)[:, :in_f].astype(np.int32)
            if in_f % 2 and np.any(hi[:, -1]):
                problem(f"{stem}qweight: the pad nibble is not 0")
            if sym:
                codes = np.where(codes >= 8, codes - 16, codes)
        else:
            want_dtype = np.int8 if sym else np.uint8
            if qw.dtype != want_dtype or qw.shape != (out_f, in_f):
                problem(f"{stem}qweight {qw.dtype} {qw.shape}")
                continue
            codes = qw.astype(np.int32)
        lo_c, hi_c = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if sym else (0, (1 << bits) - 1)
        if codes.min() < lo_c or codes.max() > hi_c:
            problem(f"{stem}qweight codes {codes.min()}..{codes.max()} outside {bits} bits")
        s = p[stem + "scales"]
        if s.dtype != np.float32 or s.shape[0] != out_f:
            problem(f"{stem}scales {s.dtype} {s.shape}")
            continue
        groups = s.shape[1]
        gidx = p.get(stem + "g_idx")
        col_group = gidx.astype(np.int64) if gidx is not None else np.arange(in_f) // (in_f // groups)
        s_col = s[:, col_group]
        q = codes.astype(np.float32)
        if sym:
            if stem + "zeros" in p:
                problem(f"{stem}zeros present for symmetric codes")
            v = q * s_col
        else:
            z = p[stem + "zeros"]
            if z.dtype != np.int32 or z.shape != s.shape:
                problem(f"{stem}zeros {z.dtype} {z.shape}")
                continue
            v = (q - z[:, col_group].astype(np.float32)) * s_col
        if v.astype(np.float32).tobytes() != want.astype(np.float32).tobytes():
            d = np.abs(v - want)
            problem(f"{name}: unpacked values differ from the fp32 HF export (max {d.max():.3g}, {int((d > 0).sum())} elements)")
        compared += 1
        packed_count += 1
    extra = set(p) - set(ref) - {k for k in p if k.endswith(("qweight", "scales", "zeros", "g_idx"))}
    if extra:
        problem(f"unexpected tensors {sorted(extra)[:5]}")
    finish(compared=compared, packed=packed_count, bits=bits)


def expected_names(cfg):
    """llama.cpp tensor name -> (canonical HF key, torch shape of the GGUF tensor)."""
    m2 = cfg["model_type"] == "mamba2"
    d, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    out = {"token_embd.weight": "backbone.embeddings.weight", "output_norm.weight": "backbone.norm_f.weight"}
    if not cfg.get("tie_word_embeddings", True):
        out["output.weight"] = "lm_head.weight"
    for i in range(L):
        b, h = f"blk.{i}.", f"backbone.layers.{i}."
        out[b + "attn_norm.weight"] = h + "norm.weight"
        out[b + "ssm_in.weight"] = h + "mixer.in_proj.weight"
        out[b + "ssm_conv1d.weight"] = h + "mixer.conv1d.weight"
        if cfg.get("use_conv_bias", True):
            out[b + "ssm_conv1d.bias"] = h + "mixer.conv1d.bias"
        out[b + "ssm_a"] = h + "mixer.A_log"
        out[b + "ssm_d"] = h + "mixer.D"
        out[b + "ssm_out.weight"] = h + "mixer.out_proj.weight"
        if m2:
            out[b + "ssm_dt.bias"] = h + "mixer.dt_bias"
            out[b + "ssm_norm.weight"] = h + "mixer.norm.weight"
        else:
            out[b + "ssm_x.weight"] = h + "mixer.x_proj.weight"
            out[b + "ssm_dt.weight"] = h + "mixer.dt_proj.weight"
            out[b + "ssm_dt.bias"] = h + "mixer.dt_proj.bias"
    return out


def check_gguf(src, path, qtype_name, modules):
    cfg = json.load(open(Path(src) / "config.json"))
    w = load_file(str(Path(src) / "model.safetensors"))
    r = gguf.GGUFReader(path)
    m2 = cfg["model_type"] == "mamba2"
    arch = "mamba2" if m2 else "mamba"
    qtype = {"f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0,
             "q4_0": gguf.GGMLQuantizationType.Q4_0}[qtype_name]

    def field(key):
        f = r.get_field(key)
        if f is None:
            problem(f"metadata {key} missing")
            return None
        return f.contents()

    if field("general.architecture") != arch:
        problem(f"general.architecture {field('general.architecture')} != {arch}")
    E = cfg.get("intermediate_size") or cfg["expand"] * cfg["hidden_size"]
    H = cfg.get("num_heads") or (E // cfg.get("head_dim", 64) if m2 else None)
    R = cfg.get("time_step_rank")
    want_kv = {f"{arch}.embedding_length": cfg["hidden_size"], f"{arch}.block_count": cfg["num_hidden_layers"],
               f"{arch}.ssm.conv_kernel": cfg.get("conv_kernel", 4), f"{arch}.ssm.inner_size": E,
               f"{arch}.ssm.state_size": cfg["state_size"], f"{arch}.ssm.time_step_rank": H if m2 else R,
               f"{arch}.feed_forward_length": 0, f"{arch}.attention.head_count": 0}
    if m2:
        want_kv[f"{arch}.ssm.group_count"] = cfg.get("n_groups", 1)
    else:
        want_kv[f"{arch}.ssm.dt_b_c_rms"] = cfg["model_type"] == "falcon_mamba"
    for k, v in want_kv.items():
        got = field(k)
        if got != v:
            problem(f"{k} = {got}, expected {v}")
    eps = field(f"{arch}.attention.layer_norm_rms_epsilon")
    if eps is None or abs(eps - cfg.get("layer_norm_epsilon", 1e-5)) > 1e-12:
        problem(f"rms eps {eps}")

    names = expected_names(cfg)
    got = {t.name: t for t in r.tensors}
    if set(got) != set(names):
        problem(f"tensor names differ: missing {sorted(set(names) - set(got))[:4]}, extra {sorted(set(got) - set(names))[:4]}")
    quantized = 0
    for name, key in names.items():
        t = got.get(name)
        if t is None or key not in w:
            continue
        x = w[key].astype(np.float32)
        if name.endswith("ssm_a"):
            x = -np.exp(x)
        if name.endswith("ssm_conv1d.weight"):
            x = x.reshape(x.shape[0], x.shape[-1])
        if m2 and (name.endswith("ssm_a") or name.endswith("ssm_d")):
            x = x.reshape(-1, 1)
        if m2 and name.endswith("ssm_norm.weight"):
            G = cfg.get("n_groups", 1)
            x = x.reshape(G, -1)
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))  # gguf lists ne (ggml order)
        if shape != x.shape:
            problem(f"{name}: shape {shape}, expected {x.shape}")
            continue
        is_linear = any(name.endswith(f"{s}.weight") for s in ("ssm_in", "ssm_x", "ssm_dt", "ssm_out"))
        module = {"ssm_in": "in_proj", "ssm_x": "x_proj", "ssm_dt": "dt_proj", "ssm_out": "out_proj"}
        mod = next((v for k2, v in module.items() if name.endswith(k2 + ".weight")), None)
        chosen = is_linear and mod in modules
        if chosen and x.shape[-1] % 32 == 0:
            want_type = qtype
        elif is_linear or name in ("token_embd.weight", "output.weight"):
            want_type = gguf.GGMLQuantizationType.F16
        else:
            want_type = gguf.GGMLQuantizationType.F32
        if t.tensor_type != want_type:
            problem(f"{name}: type {t.tensor_type.name}, expected {want_type.name}")
            continue
        raw = np.asarray(t.data).tobytes()
        if want_type in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0):
            ref = gguf.quants.quantize(x, want_type).tobytes()
            if raw != ref:
                problem(f"{name}: bytes differ from gguf.quants.quantize")
            ours = q8_0_ref if want_type == gguf.GGMLQuantizationType.Q8_0 else q4_0_ref
            if quantized < 4:  # the plain-loop port is slow; its agreement on a few tensors suffices
                flat = b"".join(ours(row)[1] for row in x.reshape(-1, x.shape[-1]))
                if raw != flat:
                    problem(f"{name}: bytes differ from the numpy port of ggml-quants.c")
            quantized += 1
        elif want_type == gguf.GGMLQuantizationType.F16:
            if raw != x.astype(np.float16).tobytes():
                problem(f"{name}: F16 bytes differ")
        elif name.endswith("ssm_a"):
            # -exp(A_log): libm, numpy and torch exp may differ by an ulp (llama.cpp's own converter
            # differs from numpy here too); 1e-6 relative is a few ulps of fp32.
            a = np.frombuffer(raw, dtype=np.float32).reshape(x.shape)
            rel = np.max(np.abs(a - x) / np.maximum(np.abs(x), 1e-30))
            if rel > 1e-6:
                problem(f"{name}: -exp(A_log) off by {rel:.3g} relative")
        elif raw != x.astype(np.float32).tobytes():
            problem(f"{name}: F32 values differ")

    tok = json.load(open(Path(src) / "tokenizer.json"))
    tokens = field("tokenizer.ggml.tokens")
    V = w["backbone.embeddings.weight"].shape[0]
    if tokens is None or len(tokens) != V:
        problem(f"tokenizer.ggml.tokens has {None if tokens is None else len(tokens)} entries, expected {V}")
    else:
        for text, i in tok["model"]["vocab"].items():
            if tokens[i] != text:
                problem(f"token {i}: {tokens[i]!r} != {text!r}")
                break
        for i, t in enumerate(tokens):
            if t.startswith("[PAD") and t != f"[PAD{i}]":
                problem(f"padding token {i} is {t!r}")
                break
    merges = field("tokenizer.ggml.merges")
    want_merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    if merges != want_merges:
        problem("tokenizer.ggml.merges differ from tokenizer.json's")
    if field("tokenizer.ggml.model") != "gpt2" or field("tokenizer.ggml.pre") != "gpt-2":
        problem("tokenizer.ggml.model/pre")
    if field("tokenizer.ggml.add_bos_token") is not False:
        problem("add_bos_token should be false")
    finish(tensors=len(got), quantized=quantized, kv=len(r.fields))


def check_gguf_vs_hf(path, hf_dir):
    r = gguf.GGUFReader(path)
    w = load_file(str(Path(hf_dir) / "model.safetensors"))
    cfg = json.load(open(Path(hf_dir) / "config.json"))
    names = expected_names(cfg)
    compared = 0
    for t in r.tensors:
        if t.tensor_type not in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0):
            continue
        deq = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        ref = w[names[t.name]].astype(np.float32)
        if deq.reshape(ref.shape).tobytes() != ref.tobytes():
            d = np.abs(deq.reshape(ref.shape) - ref)
            problem(f"{t.name}: llama.cpp's weights differ from our fake-quant (max {d.max():.3g})")
        compared += 1
    if compared == 0:
        problem("no quantized tensors in the GGUF")
    finish(compared=compared)


def main():
    mode = sys.argv[1]
    if mode == "packed":
        check_packed(*sys.argv[2:5])
    elif mode == "gguf":
        modules = sys.argv[5].split(",") if len(sys.argv) > 5 else ["in_proj", "x_proj", "dt_proj", "out_proj"]
        check_gguf(sys.argv[2], sys.argv[3], sys.argv[4], modules)
    elif mode == "gguf-vs-hf":
        check_gguf_vs_hf(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
