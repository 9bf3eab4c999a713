#!/usr/bin/env python3
"""Logits of a model directory through HF transformers, for tests/cli/tst_cli_quantize.cpp.

usage: hf_logits.py MODEL_DIR IDS(1,2,3) OUT.npy

Loads MODEL_DIR with AutoModelForCausalLM (fp32, CPU), runs the ids as one sequence from a zero
state, writes float32 logits [T, V] to OUT.npy, and prints one JSON line on stdout:
{"warnings": [...], "missing": [...], "unexpected": [...], "mismatched": [...]} with every
warning Python or transformers' logger emitted while loading and running, and the loading info.
The test decides which warnings are about the environment (no mamba_ssm kernels) rather than the
checkpoint.
"""
import json
import logging
import sys
import warnings

import numpy as np
import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def main():
    model_dir, ids_text, out = sys.argv[1], sys.argv[2], sys.argv[3]
    ids = [int(x) for x in ids_text.split(",")]
    hf_logging.set_verbosity_warning()
    collect = Collect()
    hf_logging.get_logger().addHandler(collect)  # the "transformers" root logger
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, info = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.float32, output_loading_info=True)
        model.eval()
        with torch.no_grad():
            logits = model(torch.tensor([ids]), use_cache=False).logits[0]
    np.save(out, logits.float().numpy())
    messages = collect.messages + [str(w.message) for w in caught]
    print(json.dumps({"warnings": messages,
                      "missing": sorted(info.get("missing_keys", [])),
                      "unexpected": sorted(info.get("unexpected_keys", [])),
                      "mismatched": [str(m) for m in info.get("mismatched_keys", [])]}))


if __name__ == "__main__":
    main()
