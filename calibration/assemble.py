#!/usr/bin/env python3
"""Turns the raw output of run_calibration.sh (one or more folders of *.jsonl and
provenance-*.json) into the two files moesim uses:

  <profile>.calibration.json  the calibration table (format below; read by
                              sim/hardware/calibration_table.cpp)
  <profile>.heldout.json      the held-out measurements (tags held-*), for accuracy.py only

<profile> is the hw_profiles name of the GPU ("NVIDIA H100 80GB HBM3" -> H100-SXM, "NVIDIA H200"
-> H200). Table: expert_block.<backend>.<dtype>.uniform = one entry per (hidden, intermediate,
experts) with increasing `tokens` (per expert) and the median / p10 / p90 block time in us;
.skewed = the uneven calibration vectors (tags skew-*). Other kernels are copied as measured.
With --base TABLE (an earlier <profile>.calibration.json of the same GPU) the new measurements are
added to that table: a uniform point measured again replaces the old one, new points join their
curve, skewed vectors and other kernels are taken from the new run where it has them, and the
provenance lists the base table's parts first. The held-out file holds only the new run's points,
plus, with --base-heldout, the earlier held-out points of each (backend, dtype) the new run did not measure.
Each (backend, dtype) table also gets `token_tile`: the GEMM tile height (tokens) the time steps
with between measured counts, chosen from TILE_CANDIDATES by leave-one-out over the uniform grid
(each interior point of >= 64 tokens predicted from its neighbours, the candidate with the
smallest 90th-percentile error wins; 0 = smooth log-log interpolation). `--refit TABLE` redoes
only this fit on an existing table, in place.
Python stdlib only. Usage: python3 assemble.py --in DIR [--in DIR2 ...] [--base TABLE] --out DIR
                           python3 assemble.py --refit TABLE
"""
import argparse
import glob
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))

from moesim.profiles import profile_name as profile_of  # noqa: E402

IMPLEMENTATIONS = {
    "cublas-grouped": "moesim calibration/swiglu_block.cuh: bf16 = two cublasGemmGroupedBatchedEx calls (gate/up, down; "
                      "one group per active expert, fp32 compute) around a SiLU*mul kernel; fp8 = a loop of cublasLtMatmul "
                      "calls per GEMM (e4m3 x e4m3, per-tensor scales, fast accumulation, bf16 out) around a SiLU*mul kernel "
                      "that writes e4m3. The whole block is one CUDA graph; experts with no tokens are left out.",
    "torch-grouped-mm": "calibration/torch_grouped_mm.py: torch._grouped_mm (gate/up) + F.silu(g)*u + torch._grouped_mm (down), "
                        "bf16, all local experts passed with int32 end offsets, captured in a CUDA graph.",
}
TIMING = ("Median of CUDA-event timings of single CUDA-graph replays (3 to 40 replays, as many as fit 150 ms, after 2 "
          "warm-ups); L2 overwritten before every timed replay; 2 input buffers rotated; random non-zero inputs and "
          "weights; p10/p90 over the same replays.")


def dumps(obj):
    """Indented JSON with every list of plain numbers on one line (one line per measured curve)."""
    text = json.dumps(obj, indent=1)
    return re.sub(r"\[\s*([-0-9.eE+]+(?:,\s*[-0-9.eE+]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)


def read_jsonl(path):
    rows = []
    with open(path) as fh:
        for ln in fh:
            ln = ln.strip()
            if ln.startswith("{"):
                rows.append(json.loads(ln))
    return rows


TILE_CANDIDATES = [0, 16, 32, 64, 128, 256]


def interpolate(tokens, us, n, tile):
    """The time at n between measured counts, as sim/hardware/expert_cost_model.cpp computes it."""
    k = max(i for i, t in enumerate(tokens) if t <= n)
    if tokens[k] == n:
        return us[k]
    lo, hi = tokens[k], tokens[k + 1]
    ceil = lambda x: -(-x // tile)
    if tile and ceil(hi) > ceil(lo):
        u = (ceil(n) - ceil(lo)) / (ceil(hi) - ceil(lo))
    else:
        u = math.log(n / lo) / math.log(hi / lo)
    return math.exp((1 - u) * math.log(us[k]) + u * math.log(us[k + 1]))


def fit_token_tile(entries):
    """(best tile, {tile: leave-one-out p90 abs error}) over the interior points of >= 64 tokens."""
    p90 = {}
    for tile in TILE_CANDIDATES:
        errs = []
        for e in entries:
            tk, us = e["tokens"], e["median_us"]
            for i in range(1, len(tk) - 1):
                if tk[i] * e["experts"] >= 64:
                    pred = interpolate(tk[:i] + tk[i + 1:], us[:i] + us[i + 1:], tk[i], tile)
                    errs.append(abs(pred / us[i] - 1))
        if errs:
            errs.sort()
            p90[tile] = round(errs[int(0.9 * (len(errs) - 1))], 4)
    best = min(p90, key=lambda t: (p90[t], t)) if p90 else 0
    return best, p90


def set_token_tiles(blocks):
    for backend, b in blocks.items():
        for dtype, t in b.items():
            if dtype == "implementation":
                continue
            tile, p90 = fit_token_tile(t["uniform"])
            t["token_tile"] = tile
            t["token_tile_fit"] = {"method": "leave-one-out over the uniform grid, points of >= 64 tokens, smallest p90 abs error",
                                   "p90_abs_err_by_tile": {str(k): v for k, v in p90.items()}}
            print(f"assemble.py: {backend} {dtype}: token_tile {tile} (leave-one-out p90 {p90.get(tile, 0):.1%})")


def load_base(path, profile, uniform, skewed, other):
    """Fills uniform/skewed/other from an earlier table of the same profile; returns the table."""
    with open(path) as fh:
        base = json.load(fh)
    if base.get("format") != "moesim-calibration-1" or base.get("hardware") != profile:
        sys.exit(f"assemble.py: --base {path} is not a moesim-calibration-1 table of {profile}")
    for backend, b in base["expert_block"].items():
        for dtype, t in b.items():
            if dtype == "implementation":
                continue
            for e in t["uniform"]:
                cell = uniform.setdefault((backend, dtype), {}).setdefault((e["hidden"], e["intermediate"], e["experts"]), {})
                for i, n in enumerate(e["tokens"]):
                    cell[n] = {"median_us": e["median_us"][i], "p10_us": e["p10_us"][i], "p90_us": e["p90_us"][i]}
            skewed[(backend, dtype)] = list(t["skewed"])
    for k in ("dense_gemm", "memcpy", "gating", "elementwise"):
        if k in base:
            other[k] = list(base[k])
    for k, v in base.get("communication", {}).items():
        other[k] = list(v)
    return base


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="inputs", action="append")
    ap.add_argument("--refit", help="redo the token_tile fit of this table in place, and nothing else")
    ap.add_argument("--profile-name", help="print the hw_profiles name of this GPU name and exit")
    ap.add_argument("--out")
    ap.add_argument("--base", help="earlier table of the same GPU to add the new measurements to")
    ap.add_argument("--base-heldout", help="with --base: its held-out file; kept for each (backend, dtype) the new run has no "
                                           "held-out points for")
    args = ap.parse_args()
    if not args.profile_name and not args.refit and (not args.inputs or not args.out):
        ap.error("--in and --out are required (or --refit TABLE)")
    return args


def refit(path):
    with open(path) as fh:
        table = json.load(fh)
    set_token_tiles(table["expert_block"])
    with open(path, "w") as fh:
        fh.write(dumps(table) + "\n")


def read_inputs(inputs):
    """(measurement rows, provenance parts) of the run folders, smoke runs left out."""
    rows, prov = [], []
    for d in inputs:
        for p in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
            if not os.path.basename(p).startswith("smoke"):
                rows += read_jsonl(p)
        for p in sorted(glob.glob(os.path.join(d, "provenance-*.json"))):
            if "smoke" not in p:
                with open(p) as fh:
                    prov.append(json.load(fh))
    if not prov:
        sys.exit("assemble.py: no provenance-*.json in the inputs")
    return rows, prov


def sort_rows(rows, uniform, skewed, other):
    """Files the new rows into uniform / skewed / other (replacing the base table's skewed sets and
    kernel sets that the new run has); returns (held-out points, kernel kinds measured now)."""
    heldout, new_skewed, new_other = [], set(), set()
    for r in rows:
        k = r.get("kind")
        if k == "expert_block" and "skipped" not in r:
            tag = r["tag"]
            key = (r["backend"], r["dtype"])
            if tag == "grid":
                cell = uniform.setdefault(key, {}).setdefault((r["hidden"], r["intermediate"], r["experts"]), {})
                cell[r["tokens"]] = r
            elif tag.startswith("skew-"):
                if key not in new_skewed:  # a new run's skewed set replaces the base table's
                    new_skewed.add(key)
                    skewed[key] = []
                skewed.setdefault(key, []).append({"tag": tag, "hidden": r["hidden"], "intermediate": r["intermediate"],
                                                   "counts": r["counts"], "median_us": r["median_us"]})
            elif tag.startswith("held-"):
                heldout.append({x: r[x] for x in ("backend", "dtype", "tag", "hidden", "intermediate", "experts", "tokens", "counts",
                                                  "total_tokens", "median_us", "p10_us", "p90_us", "reps") if x in r})
        elif k in ("dense_gemm", "memcpy", "gating", "elementwise", "p2p", "alltoall", "alltoallv", "comm_skipped"):
            if k not in new_other:  # a new run's kernel set replaces the base table's
                new_other.add(k)
                other[k] = []
            other[k].append({x: v for x, v in r.items() if x != "kind"})
    return heldout, new_other


def expert_blocks(uniform, skewed):
    """The table's expert_block section: per backend and dtype, the uniform curves and skewed vectors."""
    blocks = {}
    for (backend, dtype), cells in sorted(uniform.items()):
        entries = []
        for (h, f, e), pts in sorted(cells.items()):
            ns = sorted(pts)
            entries.append({"hidden": h, "intermediate": f, "experts": e, "tokens": ns,
                            "median_us": [pts[n]["median_us"] for n in ns], "p10_us": [pts[n]["p10_us"] for n in ns],
                            "p90_us": [pts[n]["p90_us"] for n in ns]})
        b = blocks.setdefault(backend, {"implementation": IMPLEMENTATIONS.get(backend, backend)})
        b[dtype] = {"uniform": entries, "skewed": skewed.get((backend, dtype), [])}
    set_token_tiles(blocks)
    return blocks


def make_table(profile, gpu, prov, base, selftests, blocks, other, new_other):
    parts = [{x: p[x] for x in ("part", "date_utc", "git_commit", "command", "gpu_before", "gpu_after")} for p in prov]
    if base:
        selftests = base["provenance"].get("selftests", []) + selftests
        parts = base["provenance"]["parts"] + parts
    p0 = base["provenance"] if base else prov[0]
    driver = p0["driver"] if base else p0["gpu_before"]["driver"]
    table = {
        "format": "moesim-calibration-1",
        "hardware": profile,
        "description": f"Measured expert-block and kernel times on one {gpu}. Generated by calibration/assemble.py from the "
                       "output of calibration/run_calibration.sh; see calibration/README.md.",
        "provenance": {
            "gpu_name": gpu, "driver": driver, "nvcc": p0["nvcc"], "cublas_headers": p0["cublas_headers"],
            "torch": p0["torch"], "date_utc": p0["date_utc"], "git_commit": p0["git_commit"], "command": p0["command"],
            "selftests": selftests,
            "parts": parts,
        },
        "timing": TIMING,
        "expert_block": blocks,
    }
    for k in ("dense_gemm", "memcpy", "gating", "elementwise"):
        if k in other:
            table[k] = other[k]
    if new_other & {"p2p", "alltoall", "alltoallv"}:
        other.pop("comm_skipped", None)  # measured now: the base table's "skipped" no longer holds
    comm = {k: other[k] for k in ("p2p", "alltoall", "alltoallv", "comm_skipped") if k in other}
    if comm:
        table["communication"] = comm
    return table


def write_outputs(args, profile, gpu, table, heldout):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{profile}.calibration.json"), "w") as fh:
        fh.write(dumps(table) + "\n")
    if args.base_heldout:
        with open(args.base_heldout) as fh:
            old = json.load(fh)["measurements"]
        fresh = {(m["backend"], m["dtype"]) for m in heldout}
        heldout = [m for m in old if (m["backend"], m["dtype"]) not in fresh] + heldout
    with open(os.path.join(args.out, f"{profile}.heldout.json"), "w") as fh:
        fh.write(dumps({"hardware": profile, "gpu_name": gpu, "provenance": table["provenance"]["parts"], "measurements": heldout}) + "\n")
    return heldout


def main():
    args = parse_args()
    if args.profile_name:
        print(profile_of(args.profile_name))
        return
    if args.refit:
        refit(args.refit)
        return
    rows, prov = read_inputs(args.inputs)
    gpu = prov[0]["gpu_before"]["name"]
    profile = profile_of(gpu)
    uniform, skewed, other = {}, {}, {}
    base = load_base(args.base, profile, uniform, skewed, other) if args.base else None
    selftests = list({json.dumps(r, sort_keys=True): r for r in rows if r.get("kind") == "selftest"}.values())
    heldout, new_other = sort_rows(rows, uniform, skewed, other)
    table = make_table(profile, gpu, prov, base, selftests, expert_blocks(uniform, skewed), other, new_other)
    heldout = write_outputs(args, profile, gpu, table, heldout)
    n = sum(len(c) for c in uniform.values())
    print(f"assemble.py: {profile}: {n} uniform cells, {sum(len(v) for v in skewed.values())} skewed, {len(heldout)} held-out "
          f"-> {args.out}/{profile}.calibration.json")


if __name__ == "__main__":
    main()
