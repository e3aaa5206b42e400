#!/usr/bin/env python3
"""Regenerates calibration/ACCURACY.md and calibration/accuracy.png: measured vs predicted time of
the expert block on points left out of the calibration table, per GPU, backend and dtype.

Predictions come from `moesim cost experts --batch` (the C++ ExpertCostModel, the same code the
simulator uses). Measurements come from calibration/results/<gpu>.heldout.json (tags held-*) and
from the uneven vectors stored in the table itself (tags skew-*; the model fits nothing to them, so
they are a check too). Categories:
  held-tokens   uniform blocks with tokens per expert between grid points
  held-shape    uniform blocks with (hidden, intermediate) between grid points
  held-experts  uniform blocks with E between the grid values (8, 32)
  held-trace    uneven counts: a device's share of real DeepSeek expert loads (shared/traces)
  skew          synthetic uneven counts (Zipf, one hot expert, half idle)
Points the model refuses (outside the measured grid) are predicted again with
--allow-extrapolation and counted apart. The roofline column is the same points through the
roofline (no backend), for comparison. Also compares two runs of the table when
calibration/results/<gpu>.repeat.calibration.json exists (run-to-run noise).
Needs numpy and matplotlib. Usage: python3 calibration/accuracy.py [--moesim build/moesim]
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CATS = ["held-tokens", "held-shape", "held-experts", "held-trace", "skew"]
COLORS = {"held-tokens": "tab:blue", "held-shape": "tab:orange", "held-experts": "tab:green", "held-trace": "tab:red",
          "skew": "tab:purple"}


def category(tag):
    for c in CATS[:-1]:
        if tag.startswith(c):
            return c
    return "skew" if tag.startswith("skew") else None


def predict(moesim, gpu, backend, queries, extra=()):
    """One `moesim cost experts --batch -` per call; returns the JSON answers in order."""
    text = "".join(f"{h} {f} {dt} {','.join(map(str, c))}\n" for h, f, dt, c in queries)
    cmd = [moesim, "cost", "experts", "--hardware", gpu, "--kernel", backend, "--batch", "-", *extra]
    res = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True)
    return [json.loads(ln) for ln in res.stdout.splitlines()]


def points(gpu):
    table = json.load(open(os.path.join(ROOT, "hw_profiles", f"{gpu}.calibration.json")))
    held = json.load(open(os.path.join(HERE, "results", f"{gpu}.heldout.json")))["measurements"]
    out = []
    for m in held:
        counts = m["counts"] if "counts" in m else [m["tokens"]] * m["experts"]
        out.append((m["backend"], m["dtype"], category(m["tag"]), m["hidden"], m["intermediate"], counts, m["median_us"]))
    for backend, b in table["expert_block"].items():
        for dtype, t in b.items():
            if dtype == "implementation":
                continue
            for s in t.get("skewed", []):
                out.append((backend, dtype, "skew", s["hidden"], s["intermediate"], s["counts"], s["median_us"]))
    return table, out


def evaluate(moesim, gpu):
    table, pts = points(gpu)
    rows = []
    for backend in sorted({p[0] for p in pts}):
        sel = [p for p in pts if p[0] == backend]
        q = [(p[3], p[4], p[1], p[5]) for p in sel]
        ans = predict(moesim, gpu, backend, q)
        refused = [i for i, a in enumerate(ans) if "error" in a]
        if refused:
            again = predict(moesim, gpu, backend, [q[i] for i in refused], ["--allow-extrapolation"])
            for i, a in zip(refused, again):
                ans[i] = a
        roof = predict(moesim, gpu, "roofline", q)
        for p, a, r in zip(sel, ans, roof):
            rows.append({"backend": backend, "dtype": p[1], "cat": p[2], "hidden": p[3], "intermediate": p[4], "counts": p[5],
                         "tokens": sum(p[5]), "measured": p[6], "pred": a.get("time_us"), "extrapolated": a.get("extrapolated", True),
                         "roofline": r["time_us"]})
    return table, rows


def summary(errs):
    if len(errs) == 0:
        return "—", "—", "—"
    a = np.abs(errs)
    return f"{np.median(a) * 100:.1f}%", f"{np.percentile(a, 90) * 100:.1f}%", f"{np.median(errs) * 100:+.1f}%"


def repeat_noise(gpu, table):
    path = os.path.join(HERE, "results", f"{gpu}.repeat.calibration.json")
    if not os.path.exists(path):
        return None
    rep = json.load(open(path))
    out = []
    for backend, b in rep["expert_block"].items():
        for dtype, t in b.items():
            if dtype == "implementation" or backend not in table["expert_block"] or dtype not in table["expert_block"][backend]:
                continue
            base = {(c["hidden"], c["intermediate"], c["experts"]): c for c in table["expert_block"][backend][dtype]["uniform"]}
            d = []
            for c in t["uniform"]:
                o = base.get((c["hidden"], c["intermediate"], c["experts"]))
                if not o:
                    continue
                om = dict(zip(o["tokens"], o["median_us"]))
                d += [m / om[n] - 1 for n, m in zip(c["tokens"], c["median_us"]) if n in om and n * c["experts"] >= 64]
            out.append((backend, dtype, np.array(d)))
    return out


def plot(all_rows, path):
    groups = sorted({(g, r["backend"], r["dtype"]) for g, rows in all_rows.items() for r in rows})
    fig, axes = plt.subplots(2, len(groups), figsize=(4.6 * len(groups), 8.4), squeeze=False)
    for k, (gpu, backend, dtype) in enumerate(groups):
        rows = [r for r in all_rows[gpu] if r["backend"] == backend and r["dtype"] == dtype and r["pred"]]
        ax, ax2 = axes[0][k], axes[1][k]
        for c in CATS:
            sel = [r for r in rows if r["cat"] == c]
            if not sel:
                continue
            m = np.array([r["measured"] for r in sel])
            p = np.array([r["pred"] for r in sel])
            ax.scatter(m, p, s=9, alpha=0.7, color=COLORS[c], label=c)
            ax2.scatter([r["tokens"] for r in sel], (p / m - 1) * 100, s=9, alpha=0.7, color=COLORS[c], label=c)
        lim = [min(r["measured"] for r in rows) * 0.7, max(r["measured"] for r in rows) * 1.4]
        ax.plot(lim, lim, "k-", lw=0.8)
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlim(lim), ax.set_ylim(lim)
        ax.set_xlabel("measured block time (us)"), ax.set_ylabel("predicted (us)")
        ax.set_title(f"{gpu} {backend} {dtype}", fontsize=10)
        ax2.axhline(0, color="k", lw=0.8)
        for y in (-10, -5, 5, 10):
            ax2.axhline(y, color="grey", lw=0.5, ls=":")
        ax2.axvline(64, color="grey", lw=0.8, ls="--")
        ax2.set_xscale("log"), ax2.set_ylim(-40, 40)
        ax2.set_xlabel("tokens on the device (all experts)"), ax2.set_ylabel("predicted / measured - 1 (%)")
        if k == 0:
            ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moesim", default=os.path.join(ROOT, "build", "moesim"))
    ap.add_argument("--gpu", action="append", help="hw_profiles name (default: every one with a held-out file)")
    args = ap.parse_args()
    gpus = args.gpu or sorted(os.path.basename(p)[: -len(".heldout.json")] for p in glob.glob(os.path.join(HERE, "results", "*.heldout.json")))
    lines = ["# Accuracy of the calibrated expert-block model", "",
             "Sections: the expert block per GPU (below), whole transformer layers, and each op against vLLM's kernels (at the end).", "",
             f"Generated by `python3 calibration/accuracy.py` on {datetime.date.today().isoformat()}; do not edit by hand. "
             "Error = predicted / measured - 1, where predicted is `moesim cost experts` (sim/hardware/expert_cost_model.cpp) "
             "from `hw_profiles/<gpu>.calibration.json` and measured is the median of the same block timed on the GPU in the "
             "same runs, left out of the table. |err| columns are over the absolute errors; bias is the median signed error. "
             "'refused' = outside the measured grid (predicted with --allow-extrapolation; included in the rows). "
             "The roofline column is the same points through the roofline model (no backend).", "",
             "Target: median |err| < 5% and p90 < 10% for blocks of >= 64 tokens on the device.", ""]
    all_rows = {}
    for gpu in gpus:
        table, rows = evaluate(args.moesim, gpu)
        all_rows[gpu] = rows
        pv = table["provenance"]
        lines += [f"## {gpu} ({pv['gpu_name']}, driver {pv['driver']}, {pv['date_utc'][:10]}, commit {pv['git_commit']})", ""]
        for label, keep in [(">= 64 tokens on the device", lambda r: r["tokens"] >= 64), ("all sizes", lambda r: True)]:
            lines += [f"### {label}", "",
                      "| backend | dtype | points | n | median abs err | p90 abs err | bias | refused | roofline median abs err |",
                      "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for backend in sorted({r["backend"] for r in rows}):
                for dtype in sorted({r["dtype"] for r in rows if r["backend"] == backend}):
                    for c in CATS + ["all held-out"]:
                        sel = [r for r in rows if r["backend"] == backend and r["dtype"] == dtype and keep(r) and r["pred"]
                               and (r["cat"] == c or (c == "all held-out" and r["cat"] != "skew"))]
                        if not sel:
                            continue
                        e = np.array([r["pred"] / r["measured"] - 1 for r in sel])
                        er = np.array([r["roofline"] / r["measured"] - 1 for r in sel])
                        med, p90, bias = summary(e)
                        name = f"**{c}**" if c == "all held-out" else c
                        lines.append(f"| {backend} | {dtype} | {name} | {len(sel)} | {med} | {p90} | {bias} | "
                                     f"{sum(1 for r in sel if r['extrapolated'])} | {summary(er)[0]} |")
            lines.append("")
        noise = repeat_noise(gpu, table)
        if noise:
            lines += ["### Run-to-run noise", "",
                      "The same grid measured twice on the same kind of card in separate calls (uniform points of >= 64 tokens): "
                      "relative difference of the medians. This is a floor for any model's error.", "",
                      "| backend | dtype | n | median abs diff | p90 abs diff |", "| --- | --- | ---: | ---: | ---: |"]
            for backend, dtype, d in noise:
                med, p90, _ = summary(d)
                lines.append(f"| {backend} | {dtype} | {len(d)} | {med} | {p90} |")
            lines.append("")
        worst = sorted((r for r in rows if r["tokens"] >= 64 and r["pred"] and r["cat"] != "skew"),
                       key=lambda r: -abs(r["pred"] / r["measured"] - 1))[:8]
        lines += ["### Largest held-out errors (>= 64 tokens)", "",
                  "| backend | dtype | points | hidden | intermediate | counts | measured us | predicted us | err |",
                  "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |"]
        for r in worst:
            c = r["counts"]
            cs = ",".join(map(str, c)) if len(c) <= 8 else ",".join(map(str, c[:8])) + f",... ({len(c)} experts)"
            lines.append(f"| {r['backend']} | {r['dtype']} | {r['cat']} | {r['hidden']} | {r['intermediate']} | {cs} | {r['measured']:.1f} | "
                         f"{r['pred']:.1f} | {(r['pred'] / r['measured'] - 1) * 100:+.1f}% |")
        lines.append("")
    plot(all_rows, os.path.join(HERE, "accuracy.png"))
    lines += ["![measured vs predicted](accuracy.png)", "",
              "Top: predicted vs measured (log-log; the line is equality). Bottom: error vs tokens on the device; the dashed line "
              "marks 64 tokens, dotted lines +-5% and +-10%.", ""]
    lines += layer_and_reference_sections(args.moesim)
    with open(os.path.join(HERE, "ACCURACY.md"), "w") as fh:
        fh.write("\n".join(lines))
    print("wrote calibration/ACCURACY.md and calibration/accuracy.png")


def layer_and_reference_sections(moesim):
    """The whole-layer validation (validate_layers.py) and the per-op comparison with vLLM's
    kernels (compare_reference.py), as ACCURACY.md sections."""
    import tempfile
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for title, script, extra in (("Whole transformer layers", "validate_layers.py", []),
                                     ("Per op against vLLM's kernels, and the H200 -> H100 transfer rule", "compare_reference.py", [])):
            md = os.path.join(tmp, "part.md")
            subprocess.run([sys.executable, os.path.join(HERE, script), "--moesim", moesim, "--markdown", md] + extra,
                           check=True, capture_output=True, text=True)
            out += [f"# {title}", ""]
            out += [open(md).read() if os.path.exists(md) else "Skipped: ../shared/reference is not beside the checkout.", ""]
    return out


if __name__ == "__main__":
    main()
