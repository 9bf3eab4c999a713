#!/usr/bin/env python3
"""The papers' five findings on our models, by one command: writes resources/reports/reproduction.json
and reproduction.md (the tables and verdicts, rendered by reproduction_render.py).

    python3 resources/reports/make_reproduction.py [--cli build/bin/mambascope-cli]

Every number comes from `mambascope-cli` (init-random, calibrate, quantize, eval, preview); this
script only runs it, reads its JSON and compares. Models: the two demo models (trained by us,
resources/models/) and random-init checkpoints with the exact shapes of mamba-130m and mamba2-130m
(`init-random --seed 0`). Held-out text: resources/texts/moby-dick.txt; calibration text:
resources/texts/austen.txt. Random weights predict nearly uniform next tokens (perplexity near or
above the vocabulary of 50,280), so there the verdicts read KL, top-1 and state SQNR, never
perplexity; they tokenize with the demo tokenizer (4,096 ids, all inside the embedding), which for
random weights is as good as any. CPU only, one thread per process (OMP_NUM_THREADS=1): 25
minutes measured on two busy shared cores (`--smoke`: every command on tiny slices, ~10 minutes).
Standard library only.

Findings (shared/METHODS.md section 5): 1. at H4, DSQ well below per-tensor, per-channel and
per-state; 2. GPTQ-W4 beats RTN-W4 (asymmetric, group:64, 64 calibration samples, lm_head and conv
float); 3. KLT equalises channel variance where Hadamard alone does not, on correlated channels;
4. smooth-fused beats plain RTN at W8A8; 5. zeroing the outlier channels hurts far more than
zeroing as many random ones.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

HELD_OUT = "resources/texts/moby-dick.txt"
CALIB = "resources/texts/austen.txt"
DEMO_TOKENIZER = "resources/models/demo-mamba/tokenizer.json"
# Sizes: long enough that orderings are stable, short enough for two shared cores. The random
# shapes get fewer evaluation tokens: Mamba-2 130m's state (24 heads x 64 x 128 per layer) at 4
# bits with per-point errors costs ~0.25 s per token on one core.
FULL = {"demo": {"tokens": 2048, "ctx": 512}, "random": {"tokens": 256, "ctx": 256},
        "preview": {"demo": 4096, "random": 2048}, "stats": {"demo": 8192, "random": 2048},
        "gptq_seq": {"demo": 512, "random": 64}, "gptq_report_tokens": {"demo": 2048, "random": 256}}
# --smoke: every command once on tiny slices (a minute or two), to catch a broken flag before the
# full run; its numbers mean nothing.
SMOKE = {"demo": {"tokens": 128, "ctx": 64}, "random": {"tokens": 32, "ctx": 32},
         "preview": {"demo": 256, "random": 128}, "stats": {"demo": 512, "random": 256},
         "gptq_seq": {"demo": 8, "random": 4}, "gptq_report_tokens": {"demo": 64, "random": 32}}
SIZES = FULL
GPTQ_RANDOM_LAYERS = 4      # sequential GPTQ re-runs the model per weight: O(layers²) forwards
GPTQ_SAMPLES = 64           # the practical study's count; 64 x 64 = 4,096 rows > the widest input (1,536)


class Runner:
    """Runs mambascope-cli with one thread and keeps every command line for the report."""

    def __init__(self, cli):
        self.cli = cli
        self.commands = []
        self.env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def __call__(self, *args, json_out=False):
        cmd = [self.cli, *map(str, args)]
        self.commands.append(" ".join(rel(c) for c in cmd))
        t = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=self.env)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}")
        print(f"  {time.time() - t:6.1f} s  {' '.join(rel(c) for c in cmd[1:4])}", file=sys.stderr, flush=True)
        return json.loads(p.stdout) if json_out else p.stdout


def rel(path):
    s = str(path)
    return os.path.relpath(s, ROOT) if s.startswith(ROOT + os.sep) else s


def trim_layers(src_dir, dst_dir, keep):
    """A copy of an HF-layout checkpoint with only its first `keep` layers (same widths): the
    safetensors header is rewritten without the later layers' tensors, the data copied as is."""
    os.makedirs(dst_dir)
    with open(os.path.join(src_dir, "config.json")) as f:
        config = json.load(f)
    for key in ("num_hidden_layers", "n_layer", "n_layers"):
        if key in config:
            config[key] = keep
    with open(os.path.join(dst_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(src_dir, "model.safetensors"), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        base = 8 + n

        def layer_of(key):
            parts = key.split(".")
            return int(parts[parts.index("layers") + 1]) if "layers" in parts else -1

        kept, offset, chunks = {}, 0, []
        for key, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0] if kv[0] != "__metadata__" else -1):
            if key == "__metadata__":
                kept[key] = info
                continue
            if layer_of(key) >= keep:
                continue
            b, e = info["data_offsets"]
            kept[key] = dict(info, data_offsets=[offset, offset + e - b])
            chunks.append((base + b, e - b))
            offset += e - b
        head = json.dumps(kept, separators=(",", ":")).encode()
        head += b" " * (-len(head) % 8)
        with open(os.path.join(dst_dir, "model.safetensors"), "wb") as out:
            out.write(len(head).to_bytes(8, "little"))
            out.write(head)
            for start, size in chunks:
                f.seek(start)
                out.write(f.read(size))


class Models:
    """The four models: name -> (directory, tokenizer flags, slice, kind, arch)."""

    def __init__(self, run, tmp):
        self.rows = {
            "demo-mamba": (os.path.join(ROOT, "resources/models/demo-mamba"), [], SIZES["demo"], "demo", 1),
            "demo-mamba2": (os.path.join(ROOT, "resources/models/demo-mamba2"), [], SIZES["demo"], "demo", 2),
        }
        tok = ["--tokenizer", os.path.join(ROOT, DEMO_TOKENIZER)]
        for preset, arch in (("mamba-130m", 1), ("mamba2-130m", 2)):
            d = os.path.join(tmp, preset)
            run("init-random", "--preset", preset, "--out", d, "--seed", 0)
            self.rows[f"random {preset}"] = (d, tok, SIZES["random"], "random", arch)

    def __iter__(self):
        return iter(self.rows.items())


def state_error(points):
    states = [p for p in points if p["point"].endswith(".ssm.state")]
    sq = [p["sqnr_db"] for p in states if p["sqnr_db"] is not None]
    return sum(sq) / len(sq), sum(p["mse"] for p in states) / len(states)


def end_to_end(e):
    keep = ("perplexity_float", "perplexity_quant", "delta_perplexity", "kl_mean", "kl_p99",
            "top1_agreement", "tokens")
    return {k: e[k] for k in keep}


def finding_state(run, models):
    """1. W16A16H4, the state quantized inside the recurrence (Q-Mamba Table 3)."""
    rows = []
    for name, (d, tok, sl, kind, _) in models:
        for method in ("tensor", "channel", "state", "dsq"):
            j = run("eval", d, *tok, "--file", HELD_OUT, "--max-tokens", sl["tokens"], "--ctx", sl["ctx"],
                    "--hbits", 4, "--state-method", method, "--device", "cpu", "--threads", 1, "--json",
                    json_out=True)
            sqnr, mse = state_error(j["points"])
            rows.append({"model": name, "kind": kind, "method": "DSQ" if method == "dsq" else "per-" + method,
                         **end_to_end(j["end_to_end"]), "state_sqnr_db": sqnr, "state_mse": mse})
    return {"setting": "W16A16H4: weights and activations float, the SSM state at 4 bits inside the "
                       "recurrence (the output reads the unquantized state, Q-Mamba Eq. 10); DSQ's "
                       "channel scale abs.mean.sqrt; state SQNR averaged over layers",
            "rows": rows}


def finding_gptq(run, models, tmp):
    """2. RTN-W4 vs GPTQ-W4 (the practical study's setting, shorter samples on the random shapes)."""
    rows = []
    for name, (d, tok, sl, kind, _) in models:
        seq = SIZES["gptq_seq"][kind]
        calib = ["--calib-tokens", GPTQ_SAMPLES * seq, "--calib-seq-len", seq,
                 "--report-tokens", SIZES["gptq_report_tokens"][kind]]
        model, layers = d, None
        if kind == "random":
            layers = GPTQ_RANDOM_LAYERS
            model = os.path.join(tmp, os.path.basename(d) + f"-first{layers}")
            trim_layers(d, model, layers)
        for method in ("rtn", "gptq"):
            out = os.path.join(tmp, f"{os.path.basename(d)}-{method}4")
            t = time.time()
            run("quantize", model, *tok, "--method", method, "--wbits", 4, "--asym", "--granularity", "group:64",
                "--modules", "in_proj,x_proj,out_proj", "--format", "hf", "--dtype", "fp32", *calib,
                "--calib-file", CALIB, "--eval-file", HELD_OUT, "--eval-tokens", 2 * sl["tokens"],
                "--eval-ctx", sl["ctx"], "--out", out)
            secs = time.time() - t
            with open(os.path.join(out, "report.json")) as f:
                rep = json.load(f)
            rows.append({"model": name, "kind": kind, "method": method.upper() + "-W4",
                         "layers": layers, **end_to_end(rep["end_to_end"]),
                         "weight_sqnr_db": rep["summary"]["mean_sqnr_db"], "seconds": round(secs, 1)})
            shutil.rmtree(out)
    return {"setting": "W4 asymmetric, one scale and zero per 64 input columns, on in_proj, x_proj, "
                       "out_proj (dt_proj's 16 or 48 input columns are not a multiple of 64: float, "
                       "as conv1d, norms, embedding and lm_head); GPTQ damping 0.01, block 128, no "
                       f"act-order, {GPTQ_SAMPLES} calibration samples of Austen: "
                       f"{SIZES['gptq_seq']['demo']} tokens each on the demo models, "
                       f"{SIZES['gptq_seq']['random']} on the random shapes, whose GPTQ rows use their "
                       f"first {GPTQ_RANDOM_LAYERS} layers (real widths) to fit a CPU budget; the "
                       "study used 64 samples of 2,048 WikiText-2 tokens; evaluated on twice the "
                       "finding-1 slice of Moby Dick",
            "rows": rows}


# Points whose inputs the rotations apply to (preview rotates in_proj, dt_proj and out_proj inputs).
PREVIEW_POINTS = {"demo-mamba": ["layers.5.out_proj.input", "layers.5.in_proj.input"],
                  "demo-mamba2": ["layers.5.out_proj.input", "layers.5.in_proj.input"],
                  "random mamba-130m": ["layers.11.out_proj.input"],
                  "random mamba2-130m": ["layers.11.out_proj.input"]}


def finding_klt(run, models):
    """3. Channel-variance CV of one activation point: raw, after Hadamard alone, after KLT·H."""
    rows = []
    for name, (d, tok, _, kind, _) in models:
        n = SIZES["preview"][kind]
        for point in PREVIEW_POINTS[name]:
            got = {}
            for method in ("hadamard", "klt"):
                got[method] = run("preview", d, *tok, "--point", point, "--method", method, "--file", CALIB,
                                  "--max-tokens", n, "--bits", 8, "--device", "cpu", "--threads", 1, "--json",
                                  json_out=True)
            h, k = got["hadamard"], got["klt"]
            rows.append({"model": name, "kind": kind, "point": point, "tokens": n,
                         "channels": len(h["before"]["channel_var"]),
                         "var_cv_raw": h["before"]["var_cv"], "var_cv_hadamard": h["after"]["var_cv"],
                         "var_cv_klt": k["after"]["var_cv"],
                         # Hadamard leaves this much CV on uncorrelated Gaussian channels of equal
                         # variance from n samples alone: Var of the off-diagonal sum ≈ 2σ⁴/n.
                         "var_cv_noise_floor": math.sqrt(2.0 / n),
                         "a8_sqnr_db_raw": h["before"]["error"]["sqnr_db"],
                         "a8_sqnr_db_hadamard": h["after"]["error"]["sqnr_db"],
                         "a8_sqnr_db_klt": k["after"]["error"]["sqnr_db"]})
    return {"setting": "mambascope-cli preview on the first N Austen tokens: per-channel variance of "
                       "the point's activation before and after Hadamard alone and after KLT (K, then "
                       "H); its coefficient of variation (CV); A8 per-tensor SQNR alongside. For "
                       "uncorrelated channels Hadamard alone would equalise the variance exactly, so "
                       "the CV it leaves above the sampling floor sqrt(2/N) measures correlation",
            "rows": rows}


def calibrate(run, models, tmp):
    stats = {}
    for name, (d, tok, _, kind, _) in models:
        path = os.path.join(tmp, os.path.basename(d) + "-stats.safetensors")
        cov = ["--cov"] if kind == "demo" else []  # X^T X of a 130m is ~1 GB of fp64: KLT rows on demo only
        run("calibrate", d, *tok, "--file", CALIB, "--out", path,
            "--max-tokens", SIZES["stats"][kind], "--seq-len", 512, *cov,
            "--device", "cpu", "--threads", 1)
        stats[name] = path
    return stats


def scheme_eval(run, d, tok, sl, stats, methods, flags, tmp, act_granularities):
    """quantize --format packed (the scheme, run-time parts kept), then eval --scheme per granularity."""
    out = tempfile.mkdtemp(dir=tmp)
    os.rmdir(out)
    run("quantize", d, *tok, "--method", methods, *flags, "--format", "packed", "--stats", stats,
        "--no-eval", "--out", out)
    with open(os.path.join(out, "mambascope.json")) as f:
        scheme = json.load(f)
    zeroed = sum(t.get("count", 0) for t in scheme.get("transforms", []) if t["method"].startswith("zero"))
    results = {}
    for g in act_granularities:
        extra = ["--act-granularity", g] if g else []
        j = run("eval", d, *tok, "--scheme", os.path.join(out, "mambascope.json"), *extra, "--file", HELD_OUT,
                "--max-tokens", sl["tokens"], "--ctx", sl["ctx"], "--no-point-metrics",
                "--device", "cpu", "--threads", 1, "--json", json_out=True)
        results[g] = end_to_end(j["end_to_end"])
    shutil.rmtree(out)
    return results, zeroed


def finding_smooth_fused(run, models, stats, tmp):
    """4. W8A8 (dynamic activation scales): RTN vs smooth-fused (and KLT + smooth-fused on the demos)."""
    rows = []
    for name, (d, tok, sl, kind, _) in models:
        chains = ["rtn", "smooth-fused,rtn"] + (["klt,smooth-fused,rtn"] if kind == "demo" else [])
        for methods in chains:
            try:
                res, _ = scheme_eval(run, d, tok, sl, stats[name], methods, ["--wbits", 8, "--abits", 8], tmp,
                                     ["token", "tensor"])
            except RuntimeError as e:
                rows.append({"model": name, "kind": kind, "scheme": methods, "error": str(e)})
                continue
            for g, e in res.items():
                rows.append({"model": name, "kind": kind, "scheme": methods, "act_granularity": g, **e})
    return {"setting": "W8 symmetric per output channel on the four Linears, A8 dynamic at every "
                       "Linear input, per token (MambaQuant's language setting) and per tensor; "
                       f"smoothing factors from calibration statistics ({SIZES['stats']['demo']} "
                       f"Austen tokens on the demo models, {SIZES['stats']['random']} on the random "
                       "shapes), alpha 0.5; S-SiLU and the online "
                       "Hadamard applied at run time by eval",
            "rows": rows}


def finding_zeroing(run, models, stats, tmp):
    """5. W8 RTN with the 6-sigma outlier channels zeroed vs as many random channels (Mamba-PTQ Table 2)."""
    rows = []
    for name, (d, tok, sl, kind, _) in models:
        variants = [("W8 (no zeroing)", [])] + [("W8 + zero outliers", ["--zero-outliers"])]
        variants += [(f"W8 + zero random (seed {s})", ["--zero-random", s]) for s in (1, 2, 3)]
        for label, flags in variants:
            try:
                res, zeroed = scheme_eval(run, d, tok, sl, stats[name], "rtn", ["--wbits", 8, *flags], tmp, [None])
            except RuntimeError as e:
                rows.append({"model": name, "kind": kind, "scheme": label, "error": str(e)})
                continue
            rows.append({"model": name, "kind": kind, "scheme": label, "channels_zeroed": zeroed, **res[None]})
    return {"setting": "W8 RTN (alone moves the output by little) with the activation channels "
                       "beyond layer mean + 6 sigma of absmax zeroed at every Linear input, against "
                       "the same number of channels per point drawn among the non-outliers",
            "rows": rows}


def main():
    global SIZES
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "bin", "mambascope-cli"))
    ap.add_argument("--out-dir", default=HERE)
    ap.add_argument("--smoke", action="store_true", help="tiny slices: check every command runs")
    ap.add_argument("--resume", action="store_true",
                    help="keep the findings already in OUT-DIR/reproduction.partial.json")
    a = ap.parse_args()
    SIZES = SMOKE if a.smoke else FULL
    cli = os.path.abspath(a.cli)
    run = Runner(cli)
    partial = os.path.join(a.out_dir, "reproduction.partial.json")
    done = {}
    if a.resume and os.path.exists(partial):
        with open(partial) as f:
            done = json.load(f)
    t0 = time.time() - done.pop("seconds", 0)
    tmp = tempfile.mkdtemp(prefix="reproduction-")
    stats = None

    def step(key, title, fn):
        if key in done:
            return
        print(title, file=sys.stderr)
        first = len(run.commands)
        done[key] = fn()
        done[key]["commands"] = run.commands[first:]
        with open(partial, "w") as f:  # a later failure keeps this finding (--resume)
            json.dump(dict(done, seconds=round(time.time() - t0)), f)

    def with_stats(fn):
        def go():
            nonlocal stats
            stats = stats or calibrate(run, models, tmp)
            return fn(run, models, stats, tmp)
        return go

    try:
        models = Models(run, tmp)
        step("state", "1. state quantization at H4", lambda: finding_state(run, models))
        step("klt", "3. KLT vs Hadamard", lambda: finding_klt(run, models))
        step("smooth_fused", "4. smooth-fused vs RTN at W8A8", with_stats(finding_smooth_fused))
        step("zeroing", "5. zeroing outlier vs random channels", with_stats(finding_zeroing))
        step("gptq", "2. GPTQ vs RTN at W4", lambda: finding_gptq(run, models, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    version = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    report = {"generator": "python3 resources/reports/make_reproduction.py" + (" --smoke" if a.smoke else ""),
              "mambascope": version, "commit": commit, "seconds": round(time.time() - t0),
              "held_out": HELD_OUT, "calibration": CALIB, "sizes": SIZES,
              "random_models": "init-random --seed 0 (fp32), tokenized with " + DEMO_TOKENIZER,
              "setup_commands": run.commands[:2],
              "findings": {k: done[k] for k in ("state", "gptq", "klt", "smooth_fused", "zeroing")}}
    path = os.path.join(a.out_dir, "reproduction.json")
    with open(path, "w") as f:  # the measurements first: a rendering fault must not lose them
        json.dump(report, f, indent=2)
        f.write("\n")
    os.remove(partial)
    sys.path.insert(0, HERE)
    import reproduction_render  # beside this file: verdicts and markdown
    reproduction_render.render(path)
    print(f"wrote {rel(os.path.join(a.out_dir, 'reproduction.md'))} and .json in {report['seconds']} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
