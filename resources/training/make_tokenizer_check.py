#!/usr/bin/env python3
"""Writes resources/training/tokenizer-check.json: HF `tokenizers`' ids, with the shipped demo
tokenizer, for passages of both texts and a few hard strings; tests/cli/tst_demo_models checks that
mambascope-cli tokenize gives the same ids.

    python resources/training/make_tokenizer_check.py
"""
import json
import os

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")


def main():
    tok = Tokenizer.from_file(os.path.join(ROOT, "models", "demo-mamba", "tokenizer.json"))
    austen = open(os.path.join(ROOT, "texts", "austen.txt"), encoding="utf-8").read()
    moby = open(os.path.join(ROOT, "texts", "moby-dick.txt"), encoding="utf-8").read()
    texts = [austen[:3000], austen[2_000_000:2_003000], moby[:3000], moby[600_000:603_000],
             "Call me Ishmael.  Some years ago\u2014never mind how long precisely\u2014",
             "  \t\n  Mr. Darcy's <|endoftext|> caf\u00e9 e\u0301 \u00c9lise, \u6f22\u5b57 \U0001f44d\U0001f3fd\n\n",
             "a" * 3000, ""]
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
    json.dump(cases, open(os.path.join(HERE, "tokenizer-check.json"), "w"), ensure_ascii=False)


if __name__ == "__main__":
    main()
