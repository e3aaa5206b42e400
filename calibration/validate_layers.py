#!/usr/bin/env python3
"""Predicts every measured whole transformer layer (calibration/results/layers/<gpu>.layers.jsonl,
written by calibration/bench_transformer_layer.py) with `moesim cost layer` and reports the
errors, in a CUDA graph and launched eagerly.

    python3 calibration/validate_layers.py [--moesim build/moesim] [--hardware H200]
        [--markdown OUT.md] [--check]

--check exits 1 unless, over the layers in a CUDA graph, the median |error| is at most 5% and the
p90 at most 10% (the target), and, launched eagerly, at most 12% and 25%: a regression guard at
about today's eager accuracy, which misses that target. An eager layer's time depends on the
host (Python and driver on this machine's CPU) and two runs of the same eager layers differ by
3.3% median and 10.5% at p90 (H200.layers.repeat.jsonl against H200.layers.jsonl, DeepSeek-V3
decode left out: its decode kernel's blocks changed between the runs; graph: 1.0% and 2.3%). moesim's eager times are low (bias about -10%): the
host's Python between the ops (views, slices, the layer's own code) is not in the op table.

Each layer is predicted from the per-op tables (hw_profiles/<gpu>.ops.json) and the expert-block
table (backend torch-grouped-mm, the kernel the layer ran) with the layer's exact per-expert token
counts. No layer measurement is used to fit anything: the op tables are measured op by op on their
own grids (calibration/bench_layer_ops.py), so every layer here is a held-out point.
Error = (predicted - measured) / measured (negative: moesim too fast).
"""
import argparse
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from timing_stats import quantile  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIMITS = {"graph": (0.05, 0.10), "eager": (0.12, 0.25)}  # (median, p90) of |error|


def load(path):
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("kind") == "layer"]


def query(rec, launch):
    q = {"model": rec["model"], "phase": rec["phase"], "tokens": rec["tokens"], "counts": rec["expert_counts"], "launch": launch}
    if rec["phase"] == "prefill":
        q["sequence_length"] = rec["sequence_length"]
    else:
        q["context"] = rec["context"]
    return q


def predict(moesim, hardware, queries):
    text = "\n".join(json.dumps(q) for q in queries) + "\n"
    out = subprocess.run([moesim, "cost", "layer", "--hardware", hardware, "--kernel", "torch-grouped-mm", "--batch", "-"],
                         input=text, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"validate_layers.py: moesim cost layer failed ({out.returncode}): {out.stderr.strip()}")
    res = [json.loads(ln) for ln in out.stdout.splitlines()]
    for r in res:
        if "error" in r:
            sys.exit(f"validate_layers.py: moesim refused a layer: {r['error']}")
    return res


def rows(moesim, hardware, recs):
    out = []
    for launch in ("graph", "eager"):
        preds = predict(moesim, hardware, [query(r, launch) for r in recs])
        for rec, p in zip(recs, preds):
            meas = rec[launch]["median_us"]
            span = rec["sequence_length"] if rec["phase"] == "prefill" else rec["context"]
            out.append({"model": rec["model"], "phase": rec["phase"], "tokens": rec["tokens"], "seq_or_ctx": span,
                        "launch": launch, "measured_us": meas, "predicted_us": p["time_us"], "error": (p["time_us"] - meas) / meas,
                        "by_kind": p["by_kind_us"], "extrapolated": sorted({o["name"] for o in p["ops"] if o["extrapolated"]})})
    return out


def summary(rs):
    e = [abs(r["error"]) for r in rs]
    return {"n": len(e), "median": quantile(e, 0.5), "p90": quantile(e, 0.9), "max": max(e)}


def markdown(rs, hardware, src):
    lines = [f"Measured on one {hardware} (`{src.relative_to(ROOT)}`), predicted by `moesim cost layer` "
             f"(`python3 calibration/validate_layers.py`). Error = (predicted - measured) / measured.", "",
             "| set | layers | median abs. error | p90 | max |", "| --- | ---: | ---: | ---: | ---: |"]
    groups = [("all", rs)] + [(f"{launch}", [r for r in rs if r["launch"] == launch]) for launch in ("graph", "eager")]
    groups += [(f"{ph}, graph", [r for r in rs if r["phase"] == ph and r["launch"] == "graph"]) for ph in ("prefill", "decode")]
    for m in sorted({r["model"] for r in rs}):
        groups.append((f"{m}, graph", [r for r in rs if r["model"] == m and r["launch"] == "graph"]))
    for name, g in groups:
        s = summary(g)
        lines.append(f"| {name} | {s['n']} | {100 * s['median']:.1f}% | {100 * s['p90']:.1f}% | {100 * s['max']:.1f}% |")
    lines += ["", "| model | phase | tokens | seq / context | launch | measured us | predicted us | error |",
              "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in rs:
        lines.append(f"| {r['model']} | {r['phase']} | {r['tokens']} | {r['seq_or_ctx']} | {r['launch']} | {r['measured_us']:.1f} | "
                     f"{r['predicted_us']:.1f} | {100 * r['error']:+.1f}% |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moesim", default=str(ROOT / "build" / "moesim"))
    ap.add_argument("--hardware", default="H200")
    ap.add_argument("--markdown")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    src = ROOT / "calibration" / "results" / "layers" / f"{args.hardware}.layers.jsonl"
    recs = load(src)
    if not recs:
        sys.exit(f"validate_layers.py: no layers in {src}")
    rs = rows(args.moesim, args.hardware, recs)
    for r in rs:
        print(f"{r['model']:14s} {r['phase']:7s} T={r['tokens']:6d} {r['launch']:5s} measured {r['measured_us']:9.1f} "
              f"predicted {r['predicted_us']:9.1f} error {100 * r['error']:+6.1f}%")
    s = summary(rs)
    print(f"{s['n']} layer predictions: median |error| {100 * s['median']:.1f}%, p90 {100 * s['p90']:.1f}%, max {100 * s['max']:.1f}%")
    if args.markdown:
        pathlib.Path(args.markdown).write_text(markdown(rs, args.hardware, src))
    failed = False
    for launch, (med, p90) in LIMITS.items():
        g = summary([r for r in rs if r["launch"] == launch])
        ok = g["median"] <= med and g["p90"] <= p90
        print(f"{launch}: median |error| {100 * g['median']:.1f}% (limit {100 * med:.0f}%), p90 {100 * g['p90']:.1f}% (limit {100 * p90:.0f}%): "
              f"{'ok' if ok else 'FAILED'}")
        failed = failed or not ok
    if args.check and failed:
        print("validate_layers.py: FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
