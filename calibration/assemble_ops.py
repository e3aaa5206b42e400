#!/usr/bin/env python3
"""Builds moesim's per-op table hw_profiles/<gpu>.ops.json (format moesim-op-table-1) from the raw
output of calibration/bench_layer_ops.py (one or more ops.jsonl files; a later file's point
replaces an earlier one's).

    python3 calibration/assemble_ops.py --in DIR_OR_FILE [--in ...] --hardware H200 --out hw_profiles/H200.ops.json

Each op becomes a full grid: its axes (the values bench_layer_ops.py's GRIDS gave it, in order)
and, row-major over them (last axis fastest), graph_us / eager_us / host_us, with null where a
point was not measured (above the benchmark's size cap). sim/hardware/op_table.cpp reads it and
documents how moesim interpolates; `extrapolation_exponent` says how time grows past the last
value of an axis (1: linear in that axis, as a saturated kernel; 2 for the causal sequence length
of prefill attention, whose work grows with its square).
"""
import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from op_grids import GRIDS  # noqa: E402

EXPONENT = {("attn_prefill", "seq"): 2, ("attn_prefill_mla", "seq"): 2}


def read_points(paths):
    pts, info, prov = {}, {}, []
    for p in paths:
        p = pathlib.Path(p)
        files = [p / "ops.jsonl"] if p.is_dir() else [p]
        for f in files:
            for ln in f.read_text().splitlines():
                r = json.loads(ln)
                if r["kind"] == "point":
                    axes = list(GRIDS[r["op"]])
                    pts[(r["op"], tuple(r[a] for a in axes))] = r
                elif r["kind"] == "info" and "graph_launch_us" in r:
                    info.setdefault("graph_launch_us", []).append(r["graph_launch_us"])
            pv = (p if p.is_dir() else p.parent) / "provenance-ops.json"
            if pv.exists():
                prov.append(json.loads(pv.read_text()))
    return pts, info, prov


def kernel_name(op, recs):
    names = sorted({r["kernel"] for r in recs})
    if op.startswith("attn_prefill"):
        counts = {}
        for r in recs:
            counts[r["kernel"]] = counts.get(r["kernel"], 0) + 1
        return "the fastest SDPA backend per point (" + ", ".join(f"{k}: {v} points" for k, v in sorted(counts.items())) + ")"
    if op.startswith("attn_decode"):
        return names[0].split(" (splits")[0] + " (splits and head block per shape: calibration/layer_ops.py DecodeAttention)"
    return names[0] if len(names) == 1 else " / ".join(names)


def grid_of(op, pts):
    axes = GRIDS[op]
    keys = list(axes)
    cells = [()]
    for k in keys:
        cells = [c + (v,) for c in cells for v in axes[k]]
    recs = [pts.get((op, c)) for c in cells]
    got = [r for r in recs if r is not None]
    if not got:
        return None
    col = {m: [None if r is None else r[m] for r in recs] for m in ("graph_us", "eager_us")}
    # The host time of an op inside a layer: measured right after other ops (host_cold_us) where the
    # run has it, else back to back.
    col["host_us"] = [None if r is None else r.get("host_cold_us", r["host_us"]) for r in recs]
    return {"kernel": kernel_name(op, got),
            "axes": [{"name": k, "values": axes[k], "extrapolation_exponent": EXPONENT.get((op, k), 1)} for k in keys],
            "measured_points": len(got), **col}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="inputs", action="append", required=True)
    ap.add_argument("--hardware", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    pts, info, prov = read_points(args.inputs)
    ops = {}
    for op in GRIDS:
        g = grid_of(op, pts)
        if g is not None:
            ops[op] = g
    launches = sorted(info.get("graph_launch_us", []))
    table = {"format": "moesim-op-table-1", "hardware": args.hardware,
             "description": "Every op of a transformer layer measured alone on this GPU over a grid of shapes "
                            "(calibration/bench_layer_ops.py; kernels in calibration/layer_ops.py)",
             "timing": "graph_us: GPU time inside a CUDA graph after an L2 flush, (R x [flush, op] - R x [flush]) / R, "
                       "median of 5 replays; eager_us: the op launched from Python onto an idle GPU, CUDA events; "
                       "host_us: the host's time to issue the op (wall clock) right after ~30 other small ops, as inside a layer; medians of 7",
             "graph_launch_us": launches[len(launches) // 2] if launches else 0.0,
             "provenance": prov, "ops": ops}
    pathlib.Path(args.out).write_text(json.dumps(table, separators=(",", ":")) + "\n")
    for op, g in ops.items():
        print(f"{op}: {g['measured_points']} points, {g['kernel'][:90]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
