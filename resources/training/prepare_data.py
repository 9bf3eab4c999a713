#!/usr/bin/env python3
"""Train the demo tokenizer and tokenize the texts for train_demo.py (runs on the CPU machine).

    python resources/training/prepare_data.py        # after resources/training/extract_texts.sh

Writes resources/training/data/ (ignored by git): tokenizer.json, austen-train.npy,
austen-val.npy (the last 5% of the Austen tokens), moby.npy (held-out evaluation), and meta.json
with the unigram baseline: the perplexity on Moby Dick of a unigram model fitted to the training
tokens (add-one smoothing), which the demo models must at least halve (issue 8).
"""
import json
import math
import os

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
TEXTS = os.path.join(HERE, "..", "texts")
OUT = os.path.join(HERE, "data")
VOCAB = 4096


def main():
    os.makedirs(OUT, exist_ok=True)
    austen = open(os.path.join(TEXTS, "austen.txt"), encoding="utf-8").read()
    moby = open(os.path.join(TEXTS, "moby-dick.txt"), encoding="utf-8").read()
    # GPT-NeoX-20B's shape: NFC, byte-level with the GPT-2 regex, no prefix space.
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(austen.split("\n\n"), trainer)
    tok.save(os.path.join(OUT, "tokenizer.json"))
    ids = np.array(tok.encode(austen).ids, dtype=np.uint16)
    cut = int(len(ids) * 0.95)
    train, val = ids[:cut], ids[cut:]
    moby_ids = np.array(tok.encode(moby).ids, dtype=np.uint16)
    np.save(os.path.join(OUT, "austen-train.npy"), train)
    np.save(os.path.join(OUT, "austen-val.npy"), val)
    np.save(os.path.join(OUT, "moby.npy"), moby_ids)
    counts = np.bincount(train, minlength=tok.get_vocab_size()).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    unigram_moby = math.exp(-logp[moby_ids].mean())
    unigram_val = math.exp(-logp[val].mean())
    meta = {"vocab_size": tok.get_vocab_size(), "train_tokens": int(len(train)),
            "val_tokens": int(len(val)), "moby_tokens": int(len(moby_ids)),
            "unigram_ppl_moby": unigram_moby, "unigram_ppl_austen_val": unigram_val,
            "eos_id": tok.token_to_id("<|endoftext|>")}
    json.dump(meta, open(os.path.join(OUT, "meta.json"), "w"), indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
