#!/usr/bin/env python3
"""Compares moesim's predictions with measured MoE layers (calibration/moe_layer_bench.py output).

For every measurement file (`moesim-moe-layer-1` JSON) it builds the moesim experiment that
reproduces exactly that run, runs `moesim run`, and prints a markdown table of measured vs
predicted times. Exit codes: 0 all gated errors within bounds; 1 some gated error above its bound;
2 an input or moesim error; 77 no measurement files (nothing to compare; ctest skips).

How a run is reproduced
  model, hardware (from provenance.gpu_name, or --hardware), one node of world_size devices
  (nodes = world_size / local_world_size), expert_parallel = world_size, contiguous placement,
  prefill, tokens_per_device = tokens_per_rank, one micro-batch, dropless, bf16 dispatch /
  combine / experts / weights, `all_to_all: pairwise` (NCCL-style device-pair all-to-allv),
  `expert_backend: torch-grouped-mm` (extrapolation allowed: e.g. DeepSeek-V3 on 1 GPU holds 256
  experts, the table stops at 64; such cases say "extrapolated"), no overlap.
  Routing: the exact per-token ids of the run. The measurement names calibration/layer_routing/
  <model>.npy and its sha256 (checked); token i of rank r was row (r*T + i) mod rows, which is also
  how moesim reads a trace, so those N*T rows are written as a vLLM-style int16 .npy [tokens,
  moe_layers, top_k] (the same ids at every MoE layer of the model) and imported with
  `moesim trace import --from vllm`. The per-rank per-expert counts recomputed from it must equal
  the measurement's `counts.source_expert_tokens`, and moesim's per-layer `expert_load` and
  `device_load` must equal them summed (checked: the simulated routing is exactly the measured one).

How moesim's figures map onto the measured stages (report.json, first MoE layer; every MoE layer
is the same here)
  a2a     measured: dispatch_isolated + combine_isolated (each the median over reps of the maximum
          over ranks; each stage alone, after a barrier and an aligning all_reduce)
          predicted: layers[l].dispatch_us + layers[l].combine_us (the collective from first start
          to last finish; in per-device mode the bytes are exactly moesim's: hidden * 2 for bf16 plus
          top_k * (int32 id + fp32 weight) per (token, destination device), local copies free)
          At world size 1 there is no network all-to-all (moesim: 0; measured: a local NCCL copy or
          tensor copy): shown, never gated.
  experts measured: experts_isolated (max over ranks, median)
          predicted: layers[l].expert_compute_max_device_us (the busiest device's grouped block)
          gated (--max-experts-error, default 15%) unless the prediction was extrapolated beyond
          the calibrated grid.
  layer   measured: the fused layer from its first to its last event (median over reps of the max
          over ranks): route + counts exchange (with its host sync) + permute + dispatch + expert-side
          permute + experts + expert-side unpermute + combine + unpermute.
          predicted: dispatch_us + expert_compute_max_device_us + combine_us. moesim does not model
          the routing bookkeeping, the counts exchange, the host sync or the (un)permutes; the table
          shows their measured sum ("not modelled") so the error can be read. The router GEMM and
          top-k (timed separately by the bench) are not part of either side: moesim charges the
          router inside attention_us. Gated only at world size >= 2 (the runs the comparison is
          for): at world size 1 the layer is the experts plus the framework's bookkeeping, which
          the table shows but moesim does not claim to model.
  Modes. per-device (one copy per (token, destination rank), DeepEP semantics) is what moesim
  models, and is gated by default. per-expert (one copy per (token, expert), Megatron's AlltoAll
  dispatcher) sends more bytes than moesim's deduplicated plan; its rows are shown for reference
  (its measured vs modelled byte ratio is printed) and gated only if named in --gate-modes.

Usage:
  python3 scripts/compare_moe_layer.py [--measurements DIR_OR_FILE ...] [--moesim build/moesim]
      [--hardware NAME] [--max-a2a-error 0.10] [--max-layer-error 0.15] [--max-experts-error 0.15]
      [--gate-modes per-device] [--out-md FILE] [--json FILE] [--work DIR]
Needs only the Python standard library (no numpy).
"""
import argparse
import hashlib
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from moesim.io import NpyError, read_npy_ints, write_npy  # noqa: E402
from moesim.profiles import bundled_profile  # noqa: E402

FORMAT = "moesim-moe-layer-1"
SKIP = 77


class Fail(Exception):
    pass


def moe_layer_ids(model):
    L, first = model["num_layers"], model.get("first_dense_layers", 0)
    interval = model.get("moe_layer_interval", 1)
    return [l for l in range(L) if l >= first and (l - first) % interval == interval - 1]


def err(pred, meas):
    return (pred - meas) / meas if meas > 0 else float("inf")


def med(stages, name):
    return stages[name]["max_over_ranks"]["median_us"]


def find_measurements(paths):
    files = []
    for p in paths:
        p = pathlib.Path(p)
        if p.is_dir():
            files += sorted(f for f in p.glob("*.json") if not f.name.endswith(".summary.json"))
        elif p.is_file():
            files.append(p)
    out = []
    for f in files:
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise Fail(f"{f}: {e}")
        if isinstance(d, dict) and d.get("format") == FORMAT:
            out.append((f, d))
    out.sort(key=lambda fd: (fd[1].get("model", ""), fd[1].get("world_size", 0), fd[1].get("tokens_per_rank", 0), fd[0].name))
    return out


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise Fail(f"{' '.join(map(str, cmd))} exited {p.returncode}: {(p.stderr or p.stdout).strip()}")
    return p


def hardware_of(gpu_name):
    hw = bundled_profile(gpu_name)
    if hw is None:
        raise Fail(f"no bundled hardware profile for GPU \"{gpu_name}\"; pass --hardware NAME")
    return hw


def load_model(meas, path):
    """The bundled model of a measurement and its MoE shape, checked against the measured shape."""
    name = meas["model"]
    model_file = ROOT / "models" / f"{name}.json"
    if not model_file.is_file():
        raise Fail(f"{path}: model {name} is not bundled (models/{name}.json)")
    model = json.loads(model_file.read_text())
    moe, shape = model["moe"], meas["shape"]
    want = {"hidden": model["hidden_size"], "intermediate": moe["expert_intermediate_size"], "num_experts": moe["num_experts"], "top_k": moe["top_k"]}
    for k, v in want.items():
        if shape.get(k) != v:
            raise Fail(f"{path}: shape.{k} = {shape.get(k)} but models/{name}.json says {v}")
    return model, want


def read_routing(meas, path, K):
    """(rows, flat ids) of the measurement's routing file, after checking its sha256 and shape."""
    rinfo = meas["routing"]
    rfile = ROOT / rinfo["file"]
    if not rfile.is_file():
        raise Fail(f"{path}: routing file {rinfo['file']} is missing")
    sha = hashlib.sha256(rfile.read_bytes()).hexdigest()
    if sha != rinfo["sha256"]:
        raise Fail(f"{path}: {rinfo['file']} has sha256 {sha[:12]}..., the measurement used {rinfo['sha256'][:12]}...: "
                   "the routing changed since it was measured; measure again")
    try:
        rshape, ids = read_npy_ints(rfile)
    except NpyError as e:
        raise Fail(str(e)) from None
    if len(rshape) != 2 or rshape[1] != K:
        raise Fail(f"{rfile}: shape {rshape}, expected [rows, {K}]")
    return rshape[0], ids


def write_trace(meas, path, args, work, model, want):
    """Writes the run's exact routing as a moesim trace (work/trace.npz); returns (trace, counts
    [rank][expert], routing rows)."""
    name = meas["model"]
    N, T, E, K = meas["world_size"], meas["tokens_per_rank"], want["num_experts"], want["top_k"]
    rows, ids = read_routing(meas, path, K)
    layers = moe_layer_ids(model)
    counts = [[0] * E for _ in range(N)]
    chunks = []
    for r in range(N):
        for i in range(T):
            row = ((r * T + i) % rows) * K
            tok = ids[row:row + K]
            for e in tok:
                counts[r][e] += 1
            chunks.append(struct.pack(f"<{K}h", *tok) * len(layers))
    if counts != meas["counts"]["source_expert_tokens"]:
        raise Fail(f"{path}: the per-rank per-expert counts recomputed from {meas['routing']['file']} differ from counts.source_expert_tokens")
    npy = work / "routed_experts.npy"
    write_npy(npy, "<i2", (N * T, len(layers), K), chunks)
    del chunks
    trace = work / "trace.npz"
    run([args.moesim, "trace", "import", "--from", "vllm", str(npy), str(trace), "--model", name, "--experts", str(E),
         "--top-k", str(K), "--layers", ",".join(map(str, layers)), "-q"])
    npy.unlink()
    return trace, counts, rows


def experiment(meas, path, hw, nodes, trace, rows):
    """The moesim experiment that reproduces the measured run."""
    name, N, T = meas["model"], meas["world_size"], meas["tokens_per_rank"]
    return {"name": f"moe-layer-{name}-t{T}-w{N}",
            "description": f"Reproduces the measured MoE layer {path.name}: {name}, {N} GPU(s), {T} tokens per GPU, "
                           f"routing {meas['routing']['file']} (rows (r*T+i) mod {rows}), by scripts/compare_moe_layer.py",
            "model": name, "hardware": hw,
            "cluster": {"nodes": nodes, "devices_per_node": N // nodes},
            "parallel": {"expert_parallel": N},
            "placement": {"policy": "contiguous"},
            "workload": {"phase": "prefill", "tokens_per_device": T, "micro_batches": 1, "sequence_length": T},
            "routing": {"source": "trace", "file": str(trace)},
            "moe": {"capacity_factor": "none", "dispatch_mode": "dropless", "dispatch_dtype": "bf16", "combine_dtype": "bf16",
                    "expert_compute_dtype": "bf16", "all_to_all": "pairwise"},
            "compute": {"expert_backend": "torch-grouped-mm", "allow_extrapolation": True},
            "schedule": {"overlap": "none"},
            "memory": {"weight_dtype": "bf16", "expert_weight_dtype": "bf16"}}


def first_moe_layer(report, path, counts, N, E):
    """The report's first MoE layer, after checking that every MoE layer is the same and that its
    expert and device loads are the measured counts."""
    moe_layers = [l for l in report["layers"] if l["type"] == "moe"]
    if not moe_layers:
        raise Fail(f"{path}: the report has no MoE layer")
    first = moe_layers[0]
    keys = ("dispatch_us", "combine_us", "expert_compute_max_device_us")
    for l in moe_layers[1:]:
        if any(abs(l[k] - first[k]) > 1e-6 * max(1.0, first[k]) for k in keys):
            raise Fail(f"{path}: MoE layers {first['layer']} and {l['layer']} differ although their routing is the same")
    total = [sum(counts[r][e] for r in range(N)) for e in range(E)]
    if first["expert_load"] != total:
        raise Fail(f"{path}: moesim's expert_load differs from the measured per-expert counts")
    El = E // N
    per_rank = [sum(total[d * El:(d + 1) * El]) for d in range(N)]
    if first["device_load"] != per_rank:
        raise Fail(f"{path}: moesim's device_load {first['device_load']} differs from the measured {per_rank}")
    return first


def run_info(meas, report, first, hw, nodes, want):
    """What the comparison notes about a run: cost sources and bytes sent per dispatch mode."""
    N, H, K = meas["world_size"], want["hidden"], want["top_k"]
    sources = report.get("cost_sources", {}).get("expert_block", {})
    dedup = meas["counts"]["send_tokens_dedup"]
    assign = meas["counts"]["send_assignments"]
    remote_dedup = sum(dedup[s][d] for s in range(N) for d in range(N) if s != d)
    remote_assign = sum(assign[s][d] for s in range(N) for d in range(N) if s != d)
    return {"hardware": hw, "nodes": nodes, "expert_cost_source": ", ".join(sorted(sources)) or "?",
            "extrapolated": any("extrapolated" in s for s in sources),
            "moesim_dispatch_bytes": first["dispatch_bytes_intra_node"] + first["dispatch_bytes_inter_node"],
            "bytes": {"per-device": remote_dedup * (2 * H + 8 * K), "per-expert": remote_assign * 2 * H}}


def simulate(meas, path, args, work):
    """Builds and runs the moesim experiment of one measurement; returns (report, info)."""
    model, want = load_model(meas, path)
    N, E = meas["world_size"], want["num_experts"]
    if E % N:
        raise Fail(f"{path}: {E} experts do not divide over world size {N}")
    trace, counts, rows = write_trace(meas, path, args, work, model, want)
    prov = meas.get("provenance", {})
    hw = args.hardware or hardware_of(prov.get("gpu_name", ""))
    local = prov.get("local_world_size", N) or N
    nodes = max(1, N // local)
    exp_file = work / "experiment.json"
    exp_file.write_text(json.dumps(experiment(meas, path, hw, nodes, trace, rows), indent=1))
    out = work / "out"
    run([args.moesim, "run", str(exp_file), "--out", str(out), "-q"])
    report = json.loads((out / "report.json").read_text())
    first = first_moe_layer(report, path, counts, N, E)
    return first, run_info(meas, report, first, hw, nodes, want)


def compare(files, args):
    rows, results, failed = [], [], False
    gate = set(m for m in args.gate_modes.split(",") if m)
    for path, meas in files:
        case = f"{meas['model']} T={meas['tokens_per_rank']} N={meas['world_size']}"
        work = pathlib.Path(tempfile.mkdtemp(prefix="moe-layer-", dir=args.work))
        try:
            layer, info = simulate(meas, path, args, work)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        N = meas["world_size"]
        pred_a2a = layer["dispatch_us"] + layer["combine_us"]
        pred_exp = layer["expert_compute_max_device_us"]
        pred_layer = pred_a2a + pred_exp
        ext = " (extrapolated)" if info["extrapolated"] else ""
        for mode, res in meas["modes"].items():
            s = res["stages"]
            gated = mode in gate
            m_a2a = med(s, "dispatch_isolated") + med(s, "combine_isolated")
            m_exp = med(s, "experts_isolated")
            m_layer = med(s, "layer")
            m_unmod = med(s, "counts") + med(s, "permute_total") + med(s, "unpermute_total")
            rec = {"file": path.name, "case": case, "mode": mode, "hardware": info["hardware"], "expert_cost_source": info["expert_cost_source"]}
            # a2a
            if N == 1:
                rows.append((case, mode, "a2a (dispatch+combine)", m_a2a, pred_a2a, None,
                             "n/a: world size 1, no network all-to-all (measured: local copy)"))
            else:
                e = err(pred_a2a, m_a2a)
                ratio = info["bytes"][mode] / info["moesim_dispatch_bytes"] if info["moesim_dispatch_bytes"] else float("nan")
                ok = abs(e) <= args.max_a2a_error
                note = f"{'gated' if gated else 'info'}; measured/modelled dispatch bytes {ratio:.3f}"
                if gated and not ok:
                    failed = True
                    note = "FAIL " + note
                rows.append((case, mode, "a2a (dispatch+combine)", m_a2a, pred_a2a, e, note))
                rec["a2a"] = {"measured_us": m_a2a, "predicted_us": pred_a2a, "error": e, "gated": gated, "ok": ok, "bytes_ratio": ratio}
            # experts
            e = err(pred_exp, m_exp)
            gated_e = gated and args.max_experts_error is not None and not info["extrapolated"]
            ok = args.max_experts_error is None or abs(e) <= args.max_experts_error
            note = ("gated" if gated_e else "info") + f"; {info['expert_cost_source']}"
            if gated_e and not ok:
                failed = True
                note = "FAIL " + note
            rows.append((case, mode, "experts (busiest GPU)" + ext, m_exp, pred_exp, e, note))
            rec["experts"] = {"measured_us": m_exp, "predicted_us": pred_exp, "error": e, "gated": gated_e, "ok": ok}
            # layer
            e = err(pred_layer, m_layer)
            ok = abs(e) <= args.max_layer_error
            gated_l = gated and N > 1
            note = (f"{'gated' if gated_l else 'info'}; not modelled (counts + permutes) measured {m_unmod:.0f} us = "
                    f"{m_unmod / m_layer:.0%} of the layer")
            if N == 1:
                note += "; at N=1 the local a2a copies are in the measured layer, moesim has none"
            if gated_l and not ok:
                failed = True
                note = "FAIL " + note
            rows.append((case, mode, "layer", m_layer, pred_layer, e, note))
            rec["layer"] = {"measured_us": m_layer, "predicted_us": pred_layer, "error": e, "gated": gated_l, "ok": ok, "not_modelled_us": m_unmod}
            results.append(rec)
    return rows, results, failed


def markdown(rows, args, files):
    lines = [f"MoE layer: measured vs moesim ({len(files)} measurement file(s); gated modes: {args.gate_modes}; "
             f"bounds: a2a {args.max_a2a_error:.0%}, layer {args.max_layer_error:.0%}"
             + (f", experts {args.max_experts_error:.0%}" if args.max_experts_error is not None else "") + ")", "",
             "| case | mode | quantity | measured (us) | moesim (us) | error | note |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for case, mode, q, m, p, e, note in rows:
        es = "n/a" if e is None else f"{e:+.1%}"
        lines.append(f"| {case} | {mode} | {q} | {m:.1f} | {p:.1f} | {es} | {note} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--measurements", nargs="+", default=[str(ROOT / "calibration/results/moe_layer")],
                    help="folders or files of moesim-moe-layer-1 JSON (default calibration/results/moe_layer/)")
    ap.add_argument("--moesim", default=os.environ.get("MOESIM_BIN", str(ROOT / "build/moesim")))
    ap.add_argument("--hardware", default="", help="hardware profile (default: from the measurement's GPU name)")
    ap.add_argument("--max-a2a-error", type=float, default=0.10)
    ap.add_argument("--max-layer-error", type=float, default=0.15)
    ap.add_argument("--max-experts-error", type=float, default=0.15)
    ap.add_argument("--gate-modes", default="per-device", help="dispatch modes whose errors decide the exit code")
    ap.add_argument("--out-md", default="", help="also write the table here")
    ap.add_argument("--json", default="", help="also write the comparison as JSON here")
    ap.add_argument("--work", default=None, help="folder for the temporary traces and reports (default: system temp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated experiments, traces and reports")
    args = ap.parse_args()
    try:
        files = find_measurements(args.measurements)
        if not files:
            print(f"compare_moe_layer.py: SKIP: no {FORMAT} measurement files in {' '.join(args.measurements)} "
                  "(run calibration/run_multi_gpu.sh on a GPU machine and commit its moe_layer-*.json there)")
            return SKIP
        if not pathlib.Path(args.moesim).is_file():
            raise Fail(f"moesim binary {args.moesim} not found (build it, or pass --moesim)")
        if args.work:
            pathlib.Path(args.work).mkdir(parents=True, exist_ok=True)
        rows, results, failed = compare(files, args)
    except Fail as e:
        print(f"compare_moe_layer.py: error: {e}", file=sys.stderr)
        return 2
    md = markdown(rows, args, files)
    print(md, end="")
    if args.out_md:
        pathlib.Path(args.out_md).write_text(md)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"results": results, "gate_modes": args.gate_modes,
                                                       "max_a2a_error": args.max_a2a_error, "max_layer_error": args.max_layer_error,
                                                       "max_experts_error": args.max_experts_error}, indent=1) + "\n")
    print("result: " + ("some gated errors are above their bounds" if failed else "all gated errors within bounds"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
