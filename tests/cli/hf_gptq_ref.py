#!/usr/bin/env python3
"""Sequential GPTQ of a model through HF transformers, the reference for tests/cli/tst_cli_gptq.cpp.

usage: hf_gptq_ref.py MODEL_DIR CALIB.txt NSAMPLES SEQ_LEN BITS sym|asym GRANULARITY DAMP BLOCK
                      act-order|no-act-order OUT.safetensors

Independent of our engine: the model runs in transformers (fp32, CPU, its reference PyTorch path),
the calibration text is tokenized with `tokenizers` from MODEL_DIR/tokenizer.json and cut into the
first NSAMPLES consecutive windows of SEQ_LEN tokens, and each weight is rounded by the numpy GPTQ
of tests/fixtures/gen_gptq_fixture.py. The order is ours (core/quant/gptq_model.h): layer by
layer, module by module in forward order, the model re-run after each module so that every input
comes from the model as quantized so far; H = 2 XᵀX / rows in fp64. Writes the rounded Linear
weights (fp32, HF keys) to OUT.safetensors and prints one JSON line: {"weights": n, "tokens": t}.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from gen_gptq_fixture import gptq_ref  # noqa: E402


class Stop(Exception):
    pass


def main():
    (model_dir, calib, nsamples, seq_len, bits, sym, gran, damp, block, act, out) = sys.argv[1:12]
    nsamples, seq_len, bits, block, damp = int(nsamples), int(seq_len), int(bits), int(block), float(damp)
    sym, act = sym == "sym", act == "act-order"
    G = int(gran.split(":")[1]) if gran.startswith("group:") else 0
    gran_kind = "group" if G else gran

    ids = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json")).encode(
        Path(calib).read_text(encoding="utf-8"), add_special_tokens=False).ids
    n = min(nsamples, len(ids) // seq_len)
    windows = torch.tensor(ids[:n * seq_len], dtype=torch.long).reshape(n, seq_len)

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    cfg = model.config
    mamba2 = cfg.model_type == "mamba2"
    modules = ["in_proj", "out_proj"] if mamba2 else ["in_proj", "x_proj", "dt_proj", "out_proj"]
    rounded = {}
    for i, layer in enumerate(model.backbone.layers):
        mixer = layer.mixer
        for name in modules:
            xtx, rows = None, 0

            def take(x):
                nonlocal xtx, rows
                x = x.detach().reshape(-1, x.shape[-1]).double()
                xtx = x.T @ x if xtx is None else xtx + x.T @ x
                rows += x.shape[0]
                raise Stop()

            if name == "dt_proj":
                # transformers applies dt_proj as `weight @ x` (no module call): its input is the
                # first dt_rank columns of x_proj's output.
                r = cfg.time_step_rank
                handle = mixer.x_proj.register_forward_hook(lambda m, a, o: take(o[..., :r]))
            else:
                handle = getattr(mixer, name).register_forward_pre_hook(lambda m, a: take(a[0]))
            with torch.no_grad():
                for b in range(windows.shape[0]):
                    try:
                        model(windows[b:b + 1], use_cache=False)
                    except Stop:
                        pass
            handle.remove()
            if xtx is None:
                raise SystemExit(f"layers.{i}.{name}: its input was never seen")
            H = (2.0 * xtx / rows).numpy()
            lin = getattr(mixer, name)
            W = lin.weight.detach().float().numpy()
            res, _ = gptq_ref(W, H, bits, sym, gran_kind, G, damp, block, act, False)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(res["weight"]))
            # C order: fancy indexing can leave Fortran strides, which save_file would write as is.
            rounded[f"backbone.layers.{i}.mixer.{name}.weight"] = np.ascontiguousarray(res["weight"], np.float32)
    save_file(rounded, out)
    print(json.dumps({"weights": len(rounded), "tokens": int(windows.numel())}))


if __name__ == "__main__":
    main()
