#!/usr/bin/env python3
"""Verdicts and markdown for make_reproduction.py's measurements.

    python3 resources/reports/reproduction_render.py [resources/reports/reproduction.json]

Reads the JSON, computes each finding's verdict from its numbers (no threshold is tuned to the
outcome: they are stated in the report), writes the verdicts back into the JSON and
reproduction.md beside it. Rerunnable on its own, so the prose can change without a rerun of the
measurements. Standard library only.
"""
import json
import os
import sys

HOLDS, PARTLY, FAILS = "holds", "partly", "does not hold"
NA = "cannot be tested"  # the premise is absent (no outlier channel): left out of the overall verdict
FAR = 2.0  # "far below" / "far more": at least this factor on mean KL


def overall(verdicts):
    v = set(verdicts) - {NA}
    return HOLDS if v == {HOLDS} else FAILS if v == {FAILS} else PARTLY


def fmt(x, digits=4):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    a = abs(x)
    if a != 0 and (a < 1e-3 or a >= 1e5):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def by_model(rows):
    out = {}
    for r in rows:
        out.setdefault(r["model"], []).append(r)
    return out


# [SECTION] verdicts ---------------------------------------------------------------------------

def verdict_state(f):
    per = {}
    for model, rows in by_model(f["rows"]).items():
        dsq = next(r for r in rows if r["method"] == "DSQ")
        base = [r for r in rows if r["method"] != "DSQ"]
        demo = rows[0]["kind"] == "demo"
        checks = {"mean KL": lambda r: r["kl_mean"], "state SQNR": lambda r: -r["state_sqnr_db"]}
        if demo:
            checks["perplexity"] = lambda r: r["perplexity_quant"]
        beaten = {b["method"]: [m for m, key in checks.items() if key(dsq) < key(b)] for b in base}
        wins = sum(len(v) for v in beaten.values())
        far = all(b["kl_mean"] >= FAR * dsq["kl_mean"] for b in base)
        v = HOLDS if wins == len(base) * len(checks) and far else FAILS if wins == 0 else PARTLY
        rank_key = (lambda r: r["perplexity_quant"]) if demo else (lambda r: r["kl_mean"])
        order = " < ".join(r["method"] for r in sorted(base, key=rank_key))
        per[model] = {"verdict": v, "dsq_better_than": beaten,
                      "kl_factor_min": min(b["kl_mean"] for b in base) / dsq["kl_mean"],
                      "order_of_the_other_three": order + (" (perplexity)" if demo else " (mean KL)")}
    return per


def verdict_gptq(f):
    per = {}
    for model, rows in by_model(f["rows"]).items():
        rtn = next(r for r in rows if r["method"] == "RTN-W4")
        gptq = next(r for r in rows if r["method"] == "GPTQ-W4")
        demo = rows[0]["kind"] == "demo"
        wins = [gptq["kl_mean"] < rtn["kl_mean"], gptq["top1_agreement"] >= rtn["top1_agreement"]]
        if demo:
            wins.append(gptq["perplexity_quant"] < rtn["perplexity_quant"])
        per[model] = {"verdict": HOLDS if all(wins) else FAILS if not any(wins) else PARTLY,
                      "kl_ratio_gptq_over_rtn": gptq["kl_mean"] / rtn["kl_mean"]}
    return per


def verdict_klt(f):
    per = {}
    for r in f["rows"]:
        klt_flat = r["var_cv_klt"] < 1e-6
        had_left = r["var_cv_hadamard"] > 2 * r["var_cv_noise_floor"]
        v = HOLDS if klt_flat and had_left else PARTLY if klt_flat else FAILS
        per[f'{r["model"]} {r["point"]}'] = {"verdict": v,
                                             "hadamard_cv_over_noise_floor": r["var_cv_hadamard"] / r["var_cv_noise_floor"]}
    return per


def verdict_smooth_fused(f):
    per = {}
    for model, rows in by_model(f["rows"]).items():
        ok = [r for r in rows if "error" not in r]
        wins = []
        for g in ("token", "tensor"):
            rtn = next((r for r in ok if r["scheme"] == "rtn" and r["act_granularity"] == g), None)
            sf = next((r for r in ok if r["scheme"] == "smooth-fused,rtn" and r["act_granularity"] == g), None)
            if rtn and sf:
                wins.append({"act_granularity": g, "smooth_fused_better": sf["kl_mean"] < rtn["kl_mean"],
                             "kl_ratio_rtn_over_smooth_fused": rtn["kl_mean"] / sf["kl_mean"]})
        better = [w["smooth_fused_better"] for w in wins]
        per[model] = {"verdict": HOLDS if better and all(better) else FAILS if not any(better) else PARTLY,
                      "comparisons": wins}
        for w in wins:
            per[model][f"rtn_over_smooth_fused_{w['act_granularity']}"] = w["kl_ratio_rtn_over_smooth_fused"]
    return per


def verdict_zeroing(f):
    per = {}
    for model, rows in by_model(f["rows"]).items():
        ok = [r for r in rows if "error" not in r]
        base = next(r for r in ok if r["scheme"].startswith("W8 (no"))
        out = next((r for r in ok if "outliers" in r["scheme"]), None)
        rnd = [r for r in ok if "random" in r["scheme"]]
        if out is None or not rnd or out.get("channels_zeroed", 0) == 0:
            per[model] = {"verdict": NA, "reason": "no channel beyond 6 sigma at any Linear input"}
            continue
        # The zeroing's own damage: KL above the W8-only run on the same tokens.
        d_out = out["kl_mean"] - base["kl_mean"]
        d_rnd = max(r["kl_mean"] - base["kl_mean"] for r in rnd)
        factor = d_out / d_rnd if d_rnd > 0 else float("inf")
        v = HOLDS if factor >= FAR and d_out > 0 else PARTLY if d_out > d_rnd else FAILS
        per[model] = {"verdict": v, "kl_added_outliers": d_out, "kl_added_random_max": d_rnd,
                      "factor": factor}
    return per


VERDICTS = {"state": verdict_state, "gptq": verdict_gptq, "klt": verdict_klt,
            "smooth_fused": verdict_smooth_fused, "zeroing": verdict_zeroing}


def add_verdicts(report):
    for key, fn in VERDICTS.items():
        f = report["findings"][key]
        f["per_model"] = fn(f)
        f["verdict"] = overall(v["verdict"] for v in f["per_model"].values())


# [SECTION] markdown ---------------------------------------------------------------------------

def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def ppl_cells(r):
    if r["kind"] == "random":
        return ["(random)", "(random)"]
    return [fmt(r["perplexity_float"], 5), fmt(r["perplexity_quant"], 5)]


LABELS = {"kl_factor_min": "mean KL of the best baseline / DSQ's",
          "order_of_the_other_three": "the other three, best first:",
          "kl_ratio_gptq_over_rtn": "mean KL GPTQ / RTN",
          "hadamard_cv_over_noise_floor": "Hadamard's CV / sampling floor",
          "kl_added_outliers": "KL added by zeroing the outliers",
          "kl_added_random_max": "by random channels (worst seed)",
          "factor": "ratio", "reason": "",
          "rtn_over_smooth_fused_token": "mean KL RTN / smooth-fused, A8 per token",
          "rtn_over_smooth_fused_tensor": "per tensor"}


def per_model_lines(per):
    def item(k, x):
        return f"{LABELS.get(k, k)} {fmt(x) if not isinstance(x, str) else x}".strip()
    return "".join(f"- {m}: **{v['verdict']}**" + "".join(
        "; " + item(k, x) for k, x in v.items() if k not in ("verdict", "dsq_better_than", "comparisons")) + "\n"
                   for m, v in per.items())


def section_state(f, why):
    rows = [[r["model"], r["method"], *ppl_cells(r), r["kl_mean"], f'{100 * r["top1_agreement"]:.2f} %',
             r["state_sqnr_db"], r["state_mse"]] for r in f["rows"]]
    md = "## 1. State quantization at H4: DSQ against per-tensor, per-channel and per-state\n\n"
    md += (f"Q-Mamba Table 3 (Mamba2-370m, WikiText-2): perplexity 4815.83 / 3364.58 / 947.88 / 25.73 "
           f"for per-tensor / per-channel / per-state / DSQ. Setting: {f['setting']}.\n\n")
    md += table(["model", "state quantizer", "ppl float", "ppl H4", "mean KL", "top-1", "state SQNR dB",
                 "state MSE"], rows)
    md += f"\n**Verdict: {f['verdict']}.**\n\n" + per_model_lines(f["per_model"])
    for m, v in f["per_model"].items():
        lost = {b: [c for c in ("mean KL", "state SQNR", "perplexity") if c not in won and
                    (c != "perplexity" or "demo" in m)] for b, won in v["dsq_better_than"].items()}
        lost = {b: c for b, c in lost.items() if c}
        if lost:
            md += f"  - {m}: DSQ is not better than " + "; ".join(
                f"{b} on {', '.join(c)}" for b, c in lost.items()) + "\n"
    return md + "\n" + why + "\n"


def section_gptq(f, why):
    rows = [[r["model"] + (f" (first {r['layers']} layers)" if r.get("layers") else ""), r["method"],
             *ppl_cells(r), r["kl_mean"], f'{100 * r["top1_agreement"]:.2f} %', r["weight_sqnr_db"],
             f'{r["seconds"]:.0f} s'] for r in f["rows"]]
    md = "## 2. GPTQ-W4 against RTN-W4\n\n"
    md += ("The practical study (Mamba-130m, WikiText-2, ctx 2048): RTN-W4 184.2, GPTQ-W4 36.7 "
           f"(float 20.6). Setting: {f['setting']}.\n\n")
    md += table(["model", "method", "ppl float", "ppl W4", "mean KL", "top-1", "weight SQNR dB",
                 "quantize time"], rows)
    md += f"\n**Verdict: {f['verdict']}.**\n\n" + per_model_lines(f["per_model"]) + "\n" + why + "\n"
    return md


def section_klt(f, why):
    rows = [[r["model"], r["point"], str(r["channels"]), str(r["tokens"]), r["var_cv_raw"], r["var_cv_hadamard"],
             r["var_cv_klt"], r["var_cv_noise_floor"], r["a8_sqnr_db_raw"], r["a8_sqnr_db_hadamard"],
             r["a8_sqnr_db_klt"]] for r in f["rows"]]
    md = "## 3. KLT equalises channel variance where Hadamard alone does not\n\n"
    md += ("MambaQuant (section 4.2, Figure 7): after a Hadamard rotation the channel variances of "
           f"correlated channels stay uneven; KLT first makes them equal. Setting: {f['setting']}.\n\n")
    md += table(["model", "point", "channels", "tokens", "var CV raw", "var CV Hadamard", "var CV KLT·H",
                 "sampling floor", "A8 SQNR raw", "Hadamard", "KLT·H"], rows)
    md += f"\n**Verdict: {f['verdict']}.**\n\n" + per_model_lines(f["per_model"]) + "\n" + why + "\n"
    return md


def section_smooth_fused(f, why):
    rows = []
    for r in f["rows"]:
        if "error" in r:
            rows.append([r["model"], r["scheme"], "–", "–", "–", "not run: " + r["error"], "–"])
        else:
            rows.append([r["model"], r["scheme"], "A8 per " + r["act_granularity"], *ppl_cells(r), r["kl_mean"],
                         f'{100 * r["top1_agreement"]:.2f} %'])
    md = "## 4. Smooth-fused rotation against plain RTN at W8A8\n\n"
    md += ("MambaQuant App. A.6 Table 6 (Mamba-130m, average accuracy over 5 zero-shot tasks): FP 44.7, "
           f"RTN 41.5, +KLT 42.2, +smooth-fused 43.9. Setting: {f['setting']}.\n\n")
    md += table(["model", "scheme (W8A8)", "activations", "ppl float", "ppl W8A8", "mean KL", "top-1"], rows)
    md += f"\n**Verdict: {f['verdict']}.**\n\n" + per_model_lines(f["per_model"]) + "\n" + why + "\n"
    return md


def section_zeroing(f, why):
    rows = []
    for r in f["rows"]:
        if "error" in r:
            rows.append([r["model"], r["scheme"], "–", "–", "–", "not run: " + r["error"], "–"])
        else:
            rows.append([r["model"], r["scheme"], str(r["channels_zeroed"]), *ppl_cells(r), r["kl_mean"],
                         f'{100 * r["top1_agreement"]:.2f} %'])
    md = "## 5. Zeroing the outlier channels against zeroing as many random ones\n\n"
    md += ("Mamba-PTQ Table 2 (Mamba-130m, average zero-shot accuracy): 52.64 % → 40.03 % with every "
           f"layer's outlier channels zeroed. Setting: {f['setting']}.\n\n")
    md += table(["model", "scheme", "channels zeroed", "ppl float", "ppl", "mean KL", "top-1"], rows)
    md += f"\n**Verdict: {f['verdict']}.**\n\n" + per_model_lines(f["per_model"]) + "\n" + why + "\n"
    return md


def markdown(report, why):
    f = report["findings"]
    md = "# Reproduction: the papers' findings on our models\n\n"
    md += (f"Generated by `{report['generator']}` ({report['mambascope']}, commit {report['commit']}, "
           f"{report['seconds'] / 60:.0f} min on two shared CPU cores, one thread per process); every "
           "number is `mambascope-cli` output, kept in full in `reproduction.json` with each finding's "
           "command lines. The papers' own figures need the real checkpoints: the one command per table is in "
           "the user guide, [Reproducing the papers' tables](../../docs/USER-GUIDE.md#reproducing-the-papers-tables).\n\n")
    md += ("Models: the two demo models (`resources/models/`, 3.7 M and 3.5 M parameters, trained by us "
           "on Austen) and random-init checkpoints with the exact shapes of mamba-130m and mamba2-130m "
           f"({report['random_models']}). Held-out text: `{report['held_out']}`, the first "
           f"{report['sizes']['demo']['tokens']} tokens in windows of {report['sizes']['demo']['ctx']} "
           f"on the demo models, {report['sizes']['random']['tokens']} in windows of "
           f"{report['sizes']['random']['ctx']} on the random shapes; calibration text "
           f"`{report['calibration']}`. **Random weights predict a nearly uniform next token** (their "
           "perplexity is near or above the vocabulary of 50,280, and KL between two nearly uniform "
           "distributions is tiny), so on them perplexity is not shown and the verdicts read the "
           "*ratios* of mean KL, top-1 agreement and state SQNR. A factor of at least "
           f"{FAR:g} on mean KL is what \"far\" means below.\n\n")
    md += "| finding | verdict |\n|---|---|\n"
    names = {"state": "1. At H4, DSQ well below per-tensor, per-channel and per-state",
             "gptq": "2. GPTQ-W4 beats RTN-W4", "klt": "3. KLT equalises channel variance where Hadamard does not",
             "smooth_fused": "4. Smooth-fused beats plain RTN at W8A8",
             "zeroing": "5. Zeroing outlier channels hurts far more than random ones"}
    md += "".join(f"| {names[k]} | {f[k]['verdict']} |\n" for k in names) + "\n"
    md += section_state(f["state"], why["state"]) + "\n"
    md += section_gptq(f["gptq"], why["gptq"]) + "\n"
    md += section_klt(f["klt"], why["klt"]) + "\n"
    md += section_smooth_fused(f["smooth_fused"], why["smooth_fused"]) + "\n"
    md += section_zeroing(f["zeroing"], why["zeroing"])
    return md


def render(path):
    with open(path) as fh:
        report = json.load(fh)
    add_verdicts(report)
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from reproduction_why import why  # the prose: why a finding holds or not, given the verdicts
    with open(os.path.join(os.path.dirname(path), "reproduction.md"), "w") as fh:
        fh.write(markdown(report, why(report)))


if __name__ == "__main__":
    render(sys.argv[1] if len(sys.argv) > 1 else
           os.path.join(os.path.dirname(os.path.abspath(__file__)), "reproduction.json"))
