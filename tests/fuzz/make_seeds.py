#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses, from the committed test fixtures plus a few small hand-made
files (the fuzzer mutates small inputs fastest; model-sized files are left out).

    tests/fuzz/make_seeds.py OUT      -> OUT/fuzz_<reader>/<seed files>

Standard library only (it runs before any venv exists). Re-running replaces the seeds and leaves
what the fuzzer added to OUT alone.
"""
import json
import pathlib
import shutil
import struct
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
MAX_SEED = 64 * 1024  # larger fixtures slow every execution and add little


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] -> file bytes (the format, written by hand)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def tiny_tokenizer(src, n_vocab):
    """A fixture tokenizer cut down to its first n_vocab tokens and the merges they still allow."""
    j = json.loads(src.read_text())
    vocab = {t: i for t, i in j["model"]["vocab"].items() if i < n_vocab}
    merges = []
    for m in j["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ")
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    j["model"]["vocab"], j["model"]["merges"] = vocab, merges
    j["added_tokens"] = [t for t in j.get("added_tokens", []) if t["id"] < n_vocab]
    return json.dumps(j).encode()


def data_pkl(bin_path):
    with zipfile.ZipFile(bin_path) as z:
        for n in z.namelist():
            if n.endswith("/data.pkl"):
                return z.read(n)
    return None


def main():
    out = pathlib.Path(sys.argv[1])
    seeds = {}

    def add(harness, name, data):
        if len(data) <= MAX_SEED:
            seeds.setdefault(harness, {})[name] = data

    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    add("fuzz_safetensors", "hand_f32.safetensors", safetensors([("w", "F32", [2, 2], f32)]))
    add("fuzz_safetensors", "hand_mixed.safetensors",
        safetensors([("a", "BF16", [2], f32[:4]), ("b", "I64", [1], struct.pack("<q", 7)),
                     ("e", "F16", [0, 3], b""), ("s", "F64", [], struct.pack("<d", 1.5))],
                    metadata={"format": "pt"}))
    for p in sorted(FIX.rglob("*.safetensors")):
        add("fuzz_safetensors", p.parent.name + "_" + p.name, p.read_bytes())
    for p in sorted(FIX.rglob("model.safetensors.index.json")):
        add("fuzz_safetensors_index", p.parent.name + ".json", p.read_bytes())
    add("fuzz_safetensors_index", "subdir.json",
        json.dumps({"weight_map": {"inner": "sub/inner.safetensors"}}).encode())

    for p in sorted(FIX.rglob("*.bin")):
        rel = "_".join(p.relative_to(FIX).parts)
        add("fuzz_zip", rel, p.read_bytes())
        add("fuzz_torch_bin", rel, p.read_bytes())
        try:
            pkl = data_pkl(p)
        except zipfile.BadZipFile:
            pkl = None
        if pkl is not None:
            add("fuzz_unpickler", rel + ".pkl", pkl)
            add("fuzz_torch_pickle", rel + ".pkl", pkl)

    for p in sorted(list(FIX.rglob("config.json")) + list((ROOT / "resources" / "models").rglob("config.json"))):
        add("fuzz_config", "_".join(p.relative_to(ROOT).parts[-2:]), p.read_bytes())

    tok_sources = [FIX / "models" / "tokenizer.json"] + sorted((FIX / "tokenizer").glob("*.json"))
    for p in tok_sources:
        if p.name == "cases.json":  # test cases, not a tokenizer
            continue
        # Only cut-down copies: parsing a full 40 kB file costs ~2 ms, which would hold the
        # harness to a few hundred executions a second.
        try:
            add("fuzz_tokenizer_json", "tiny_" + p.name, tiny_tokenizer(p, 80))
        except (KeyError, ValueError, TypeError):
            pass

    texts = [b"It is a truth universally acknowledged", b"Hello,  world!\n\n\tcode()  ",
             "caf\u00e9 cafe\u0301 \u65e5\u672c\u8a9e \U0001F600 \u00a0x".encode(),
             b"<|endoftext|>Call me Ishmael.<|endoftext|>", b"\xff\xfe invalid \xc3", b"   ", b"'s 've 're 12345"]
    for i, t in enumerate(texts):
        add("fuzz_tokenizer_text", f"text{i}.txt", t)
    cases = FIX / "tokenizer" / "cases.json"
    if cases.exists():
        j = json.loads(cases.read_text())
        items = j if isinstance(j, list) else j.get("cases", [])
        for i, c in enumerate(items[:40]):
            t = c.get("text") if isinstance(c, dict) else None
            if isinstance(t, str):
                add("fuzz_tokenizer_text", f"case{i}.txt", t.encode())

    for p in sorted(FIX.rglob("*.gguf")):
        add("fuzz_gguf", "_".join(p.relative_to(FIX).parts[-2:]), p.read_bytes())

    for p in sorted(FIX.rglob("*.npy")):
        add("fuzz_npy", "_".join(p.relative_to(FIX).parts[-2:]), p.read_bytes())

    for harness, files in seeds.items():
        d = out / harness
        if d.exists():
            for old in d.glob("seed_*"):
                old.unlink()
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / ("seed_" + name)).write_bytes(data)
        print(f"{harness}: {len(files)} seeds")


if __name__ == "__main__":
    main()
