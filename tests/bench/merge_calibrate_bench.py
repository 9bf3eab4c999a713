#!/usr/bin/env python3
"""Merges one run of run_calibrate_bench.sh (a folder of ours-*.json and hf-*.jsonl) into
bench-calibrate.json and the Markdown table for the README (bench-calibrate.md), with the ratio of
our tokens/s to HF's and both tools' share of the roofline (roofline.py).

    python tests/bench/merge_calibrate_bench.py OUT_DIR [--peers-versions .peers/VERSIONS]
"""
import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import roofline  # noqa: E402

# Figures the issue's author measured on an H100 (random init, per-channel absmax hooks on every
# Linear input and output), to check that our HF numbers are in the same regime.
ISSUE_REFERENCE = {
    ("hf-torch", "mamba-130m", "fp32", 8, 1024): 5469, ("hf-torch", "mamba2-130m", "fp32", 8, 1024): 4126,
    ("hf-kernels", "mamba-130m", "fp32", 8, 1024): 89991, ("hf-kernels", "mamba2-130m", "fp32", 8, 1024): 120075,
    ("hf-kernels", "mamba-130m", "bf16", 8, 1024): 226623, ("hf-kernels", "mamba2-130m", "bf16", 8, 1024): 195740,
    ("hf-kernels", "mamba-130m", "bf16", 32, 2048): 274696, ("hf-kernels", "mamba2-130m", "bf16", 32, 2048): 347598,
    ("hf-kernels", "mamba-2.8b", "bf16", 8, 1024): 28948,
}
OURS_NAME = re.compile(r"ours-(?P<preset>.+)-(?P<dtype>fp32|bf16)-b(?P<batch>\d+)-l(?P<seq>\d+)\.json$")


def load(out):
    """{(tool, preset, dtype, batch, seq_len): report}; unreadable files are listed, not fatal."""
    rows, problems = {}, []
    for f in sorted(out.glob("ours-*.json")):
        m = OURS_NAME.search(f.name)
        try:
            rep = json.loads(f.read_text())
            if not isinstance(rep.get("tokens_per_s"), (int, float)):
                raise ValueError("no numeric tokens_per_s")
        except (ValueError, OSError) as e:
            problems.append(f"{f.name}: {e}")
            continue
        rows[("ours", m["preset"], m["dtype"], int(m["batch"]), int(m["seq"]))] = rep
    for f in sorted(out.glob("ours-*.log")):  # a run that wrote no report: say why
        if not f.with_suffix(".json").exists():
            last = (f.read_text(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            problems.append(f"{f.name}: {last[:160]}")
    for f in sorted(out.glob("hf-*.jsonl")):
        tool = "hf-kernels" if f.name.startswith("hf-kernels") else "hf-torch"
        for n, line in enumerate(f.read_text().splitlines(), 1):
            try:
                rep = json.loads(line)
            except ValueError as e:
                problems.append(f"{f.name}:{n}: {e}")
                continue
            if "error" in rep:
                problems.append(f"{f.name}:{n}: {rep['preset']} {rep['dtype']}: {rep['error'][:120]}")
                continue
            rows[(tool, rep["preset"], rep["dtype"], rep["batch"], rep["seq_len"])] = rep
    return rows, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--peers-versions", default="")
    a = ap.parse_args()
    out = Path(a.out)
    rows, problems = load(out)
    gpu = (out / "gpu.txt").read_text().strip() if (out / "gpu.txt").exists() else ""
    gpu_name = gpu.split(",")[0] if gpu else None
    keys = sorted({k[1:] for k in rows}, key=lambda k: (k[1] != "fp32", k[2] * k[3], list(roofline.PRESETS).index(k[0])
                                                           if k[0] in roofline.PRESETS else 99))
    merged = []
    for preset, dtype, batch, seq in keys:
        entry = {"preset": preset, "dtype": dtype, "batch": batch, "seq_len": seq}
        if preset in roofline.PRESETS:
            r = roofline.annotate(preset, dtype, batch, seq, 0.0, gpu_name)
            entry.update(flops_per_token=r["flops_per_token"], bytes_per_token=r["bytes_per_token"],
                         roofline_tokens_per_s=r["roofline_tokens_per_s"], gpu_peaks=r["gpu_peaks"])
        for tool in ("ours", "hf-kernels", "hf-torch"):
            rep = rows.get((tool, preset, dtype, batch, seq))
            if rep is None:
                continue
            tps = rep["tokens_per_s"]
            side = {"tokens_per_s": tps, "peak_gpu_bytes": rep.get("peak_gpu_bytes"), "report": rep}
            if entry.get("roofline_tokens_per_s"):
                side["roofline_share"] = tps / entry["roofline_tokens_per_s"]
            ref = ISSUE_REFERENCE.get((tool, preset, dtype, batch, seq))
            if ref:
                side["issue_reference_tokens_per_s"] = ref
            if tool != "ours":
                side["fast_path"] = rep.get("fast_path")
            entry[tool.replace("-", "_")] = side
        ours = entry.get("ours", {}).get("tokens_per_s")
        for tool in ("hf_kernels", "hf_torch"):
            if ours and tool in entry:
                entry[f"ratio_vs_{tool}"] = ours / entry[tool]["tokens_per_s"]
        merged.append(entry)
    meta = {"gpu": gpu, "peers": (Path(a.peers_versions).read_text().strip().splitlines()
                                  if a.peers_versions and Path(a.peers_versions).exists() else None),
            "problems": problems,
            "note": "tokens/s = batch*seq_len / median forward time; ratios are ours / HF; roofline from "
                    "tests/bench/roofline.py (fp32 against the non-tensor-core peak)"}
    hf_any = next((r for k, r in rows.items() if k[0] != "ours"), None)
    if hf_any:
        meta.update(torch=hf_any.get("torch"), transformers=hf_any.get("transformers"),
                    hf_stats=hf_any.get("stats"), hf_lm_head=hf_any.get("lm_head"))
    (out / "bench-calibrate.json").write_text(json.dumps({"meta": meta, "rows": merged}, indent=2) + "\n")

    def fmt(x, kind):
        if x is None:
            return "–"
        return {"tps": f"{x:,.0f}", "gib": f"{x / 2**30:.1f}", "pct": f"{100 * x:.1f} %", "x": f"{x:.2f}×",
                "gf": f"{x / 1e9:.2f}"}[kind]
    lines = [f"GPU: {gpu or 'unknown'}", "",
             "| preset | dtype | B×L | ours tok/s | HF+kernels tok/s | ours/HF | HF torch-only tok/s | "
             "peak GiB ours / HF | GFLOP/token | roofline ours / HF |",
             "|---|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for e in merged:
        o, h, t = e.get("ours", {}), e.get("hf_kernels", {}), e.get("hf_torch", {})
        fast = "" if not h or h.get("fast_path") else " (no kernels!)"
        lines.append(
            f"| {e['preset']} | {e['dtype']} | {e['batch']}×{e['seq_len']} | {fmt(o.get('tokens_per_s'), 'tps')} | "
            f"{fmt(h.get('tokens_per_s'), 'tps')}{fast} | {fmt(e.get('ratio_vs_hf_kernels'), 'x')} | "
            f"{fmt(t.get('tokens_per_s'), 'tps')} | {fmt(o.get('peak_gpu_bytes'), 'gib')} / "
            f"{fmt(h.get('peak_gpu_bytes'), 'gib')} | {fmt(e.get('flops_per_token'), 'gf')} | "
            f"{fmt(o.get('roofline_share'), 'pct')} / {fmt(h.get('roofline_share'), 'pct')} |")
    refs = [(k, v, rows.get(k)) for k, v in ISSUE_REFERENCE.items() if k in rows]
    if refs:
        lines += ["", "HF measured here vs the issue author's H100 figures: " + "; ".join(
            f"{k[0]} {k[1]} {k[2]} {k[3]}×{k[4]} {r['tokens_per_s']:,.0f} vs {v:,}" for k, v, r in refs)]
    if problems:
        lines += ["", "Problems: " + "; ".join(problems)]
    (out / "bench-calibrate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
