#!/usr/bin/env python3
"""Scores zero-shot task files as lm-evaluation-harness does, independently of mambascope-cli.

usage: zeroshot_ref.py MODEL_DIR TASK.jsonl [TASK.jsonl ...]

The model runs in HF transformers in float64 on the CPU; the tokenizer is HF `tokenizers` on the
model's tokenizer.json. Per item (lambada_openai / multiple-choice definitions):
  LAMBADA  {"text"}: context = text before the last space, continuation = " " + last word
  choices  {"context", "choices", "label"}: continuation = " " + choice
Context and continuation are encoded separately and concatenated (an empty context becomes
<|endoftext|>); one forward over ids[:-1] from a zero state; loglik = sum of the continuation
tokens' log-probabilities; greedy = each is the argmax. acc_norm divides by len(choice.encode()).
Prints one JSON object: {"TASK": {"n", "acc", "acc_norm" | "ppl", "items": [{"loglik": [...],
"greedy"?}]}}.
"""
import json
import math
import pathlib
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def score(model, ids, n_ctx):
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]])).logits[0].double()
    logp = torch.log_softmax(logits, -1)[n_ctx - 1:]
    target = torch.tensor(ids[n_ctx:])
    ll = logp.gather(1, target[:, None]).sum().item()
    return ll, bool((logp.argmax(1) == target).all())


def main():
    model_dir, files = sys.argv[1], sys.argv[2:]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64).eval()
    tok = Tokenizer.from_file(str(pathlib.Path(model_dir) / "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids
    out = {}
    for f in files:
        docs = [json.loads(line) for line in open(f, encoding="utf-8") if line.strip()]
        items, correct, correct_norm, ll_sum = [], 0, 0, 0.0
        for d in docs:
            if "text" in d:
                ctx, word = d["text"].rsplit(" ", 1)
                choices, label = [word], 0
            else:
                ctx, choices, label = d["context"], d["choices"], d["label"]
            ctx_ids = enc(ctx) or [eot]
            scored = [score(model, ctx_ids + enc(" " + c), len(ctx_ids)) for c in choices]
            lls = [s[0] for s in scored]
            item = {"loglik": lls}
            if "text" in d:
                item["greedy"] = scored[0][1]
                correct += scored[0][1]
                ll_sum += lls[0]
            else:
                norm = [ll / len(c.encode("utf-8")) for ll, c in zip(lls, choices)]
                correct += max(range(len(lls)), key=lambda i: (lls[i], -i)) == label
                correct_norm += max(range(len(norm)), key=lambda i: (norm[i], -i)) == label
            items.append(item)
        n = len(docs)
        r = {"n": n, "acc": correct / n, "items": items}
        if "text" in docs[0]:
            r["ppl"] = math.exp(-ll_sum / n)
        else:
            r["acc_norm"] = correct_norm / n
        out[pathlib.Path(f).stem] = r
    print(json.dumps(out))


if __name__ == "__main__":
    main()
