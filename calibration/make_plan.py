#!/usr/bin/env python3
"""Writes the job lists (plans) that the expert-block benchmarks run, into calibration/plans/.

  grid.plan     uniform blocks: every (hidden, intermediate) of the shape grid x experts E x a
                log grid of tokens per expert, cut where a launch would exceed the FLOP, token or
                memory caps below. This is the calibration table.
  skew.plan     synthetic uneven count vectors (Zipf, one hot expert, half idle) at grid shapes:
                the calibration set from which the uneven-count model's parameter is fitted.
  Tables measured before the grid grew are completed with run_calibration.sh --missing-from TABLE
  (only the grid points the table lacks; plan_missing.py) and assemble.py --base.
  heldout.plan  points left out of every fit: token counts between grid points, shapes between
                grid points, E between grid values, and uneven vectors drawn from the real
                DeepSeek expert loads in ../shared/traces/deepseek-sglang-expert-counts (scaled
                to one device's share). Needs the traces; committed so the device needs none.
  smoke.plan    a handful of jobs for a first run.

Plan lines: `u TAG H F DTYPE E N` (E experts with N tokens each) or `v TAG H F DTYPE c1,...,cE`.
Deterministic (fixed seeds). Python stdlib only. Usage: python3 calibration/make_plan.py [--estimate]
"""
import argparse
import glob
import json
import os
import random

HIDDEN = [1024, 2048, 4096, 7168, 8192]
INTERMEDIATE = [256, 512, 1024, 2048, 4096, 8192, 16384]
EXPERTS = [1, 4, 16, 64, 128, 256]  # 128 and 256: many experts per GPU (EP1-EP4 of Qwen/DeepSeek-size models)
# Steps of 1.5x / 1.33x up to 4096 tokens per expert (where tile and wave effects live), then 2x.
TOKENS = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072,
          4096, 8192, 16384, 32768, 65536]
# bf16 only: extra points between 64 and 4096 tokens per expert (steps of 1.17x-1.25x). The bf16
# kernels change tile shape at counts the coarse grid could not place (held-out errors up to 20%
# at 160 and 640 tokens); fp8 met the accuracy target without them.
DENSE_BF16 = [80, 112, 160, 224, 320, 448, 640, 896, 1280, 1792, 2560, 3584]
DTYPES = ["bf16", "fp8"]
FLOP_CAP = 3e13          # one block <= ~45 ms in bf16 on an H100
TOKEN_CAP = 262144       # tokens per block (all experts)
WEIGHT_CAP = 48e9        # bytes of expert weights (256 DeepSeek-V3 experts in bf16: 22.5 GB)
ACT_CAP = 12e9           # bytes of activations (2 input rotations + intermediates)
HERE = os.path.dirname(os.path.abspath(__file__))
TRACES = os.path.join(HERE, "..", "..", "shared", "traces", "deepseek-sglang-expert-counts")


def elem(dtype):
    return 1 if dtype == "fp8" else 2


def fits(h, f, dtype, counts):
    t = sum(counts)
    b = elem(dtype)
    return (6.0 * t * h * f <= FLOP_CAP and t <= TOKEN_CAP and len(counts) * 3.0 * h * f * b <= WEIGHT_CAP
            and t * (2 * h * b + 4 * f + f * b + 2 * h) <= ACT_CAP)


def tokens_for(dtype):
    return sorted(TOKENS + DENSE_BF16) if dtype == "bf16" else TOKENS


def grid_lines(dtypes):
    out = []
    for dt in dtypes:
        tokens = tokens_for(dt)
        for h in HIDDEN:
            for f in INTERMEDIATE:
                for e in EXPERTS:
                    for n in tokens:
                        if fits(h, f, dt, [n] * e):
                            out.append(f"u grid {h} {f} {dt} {e} {n}")
    return out


def zipf(rng, e, total, s):
    w = [1.0 / (i + 1) ** s for i in range(e)]
    rng.shuffle(w)
    return scale_to(w, total)


def scale_to(weights, total):
    """Integer counts proportional to weights that sum to total (largest remainders)."""
    z = sum(weights)
    raw = [w / z * total for w in weights]
    c = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - c[i], reverse=True)
    for i in order[: total - sum(c)]:
        c[i] += 1
    return c


def skew_lines(dtypes):
    rng = random.Random(7)
    out = []
    for dt in dtypes:
        for h, f in [(2048, 1024), (4096, 2048), (7168, 2048)]:
            for e in [4, 16, 64]:
                for mean in [4, 64, 1024]:
                    total = mean * e
                    vecs = {
                        "zipf0.6": zipf(rng, e, total, 0.6),
                        "zipf1.2": zipf(rng, e, total, 1.2),
                        "onehot": scale_to([e - 1.0] + [1.0] * (e - 1), total),
                        "halfidle": scale_to([1.0 if i % 2 == 0 else 0.0 for i in range(e)], total),
                    }
                    for name, c in vecs.items():
                        if fits(h, f, dt, c):
                            out.append(f"v skew-{name} {h} {f} {dt} {','.join(map(str, c))}")
    return out


def trace_layers():
    """(file stem, layer index, 256 expert loads) for every MoE layer of every trace file."""
    rows = []
    for path in sorted(glob.glob(os.path.join(TRACES, "*.json"))):
        with open(path) as fh:
            counts = json.load(fh)["logical_count"]
        stem = os.path.splitext(os.path.basename(path))[0]
        for li, row in enumerate(counts):
            if sum(row) > 0:
                rows.append((stem, li, row))
    return rows


def heldout_lines(dtypes):
    out = []
    # Between grid points of both dtypes' grids (72 lies between 64 and 80, 136 between 128 and 160...).
    between = [3, 6, 12, 20, 40, 72, 136, 288, 576, 1152, 2304, 6144, 12288, 24576, 49152]
    for dt in dtypes:
        for h, f in [(1024, 512), (4096, 2048), (7168, 2048), (8192, 8192)]:
            for e in [4, 16]:
                for n in between:
                    if fits(h, f, dt, [n] * e):
                        out.append(f"u held-tokens {h} {f} {dt} {e} {n}")
        for h, f in [(2048, 768), (2048, 1408), (3072, 1536), (5120, 3072), (6144, 10752), (4096, 14336)]:
            for e in [4, 16]:
                for n in [1, 16, 64, 256, 1024, 4096, 16384]:
                    if fits(h, f, dt, [n] * e):
                        out.append(f"u held-shape {h} {f} {dt} {e} {n}")
        for h, f in [(2048, 1024), (7168, 2048)]:
            for e in [8, 32, 96, 192]:
                for n in [1, 16, 64, 256, 1024, 4096]:
                    if fits(h, f, dt, [n] * e):
                        out.append(f"u held-experts {h} {f} {dt} {e} {n}")
    layers = trace_layers()
    if not layers:
        raise SystemExit(f"no traces under {TRACES}: held-out vectors need them")
    rng = random.Random(2026)
    vectors = []  # (tag, h, f, counts): drawn once, run for every dtype
    for h, f, local, totals, per in [(7168, 2048, 8, [128, 512, 2048, 8192, 32768], 4),
                                     (7168, 2048, 32, [128, 512, 2048, 8192, 32768], 4),
                                     (2048, 768, 16, [128, 512, 2048, 8192, 32768], 4),
                                     (4096, 14336, 4, [512, 2048, 8192], 4),
                                     # many experts on one GPU (DeepSeek-V3 at EP2 and EP1); drawn last so
                                     # that the vectors above stay the same
                                     (7168, 2048, 128, [4096, 16384, 32768], 3),
                                     (7168, 2048, 256, [4096, 16384, 32768], 3)]:
        for total in totals:
            for _ in range(per):
                stem, li, row = layers[rng.randrange(len(layers))]
                dev = rng.randrange(256 // local)
                share = row[dev * local:(dev + 1) * local]
                # The device's routed tokens are its experts' share of the layer's load: a device
                # that holds hot experts gets more than `total`, a cold one less.
                dev_total = max(1, round(total * sum(share) / (sum(row) / (256 // local))))
                c = scale_to(share, dev_total) if sum(share) > 0 else [0] * local
                vectors.append((f"held-trace-{stem}-L{li}-d{dev}", h, f, c))
    for dt in dtypes:
        for tag, h, f, c in vectors:
            if fits(h, f, dt, c):
                out.append(f"v {tag} {h} {f} {dt} {','.join(map(str, c))}")
    return out


def smoke_lines():
    return ["u smoke 1024 256 bf16 1 1", "u smoke 7168 2048 bf16 8 128", "u smoke 7168 2048 fp8 8 128",
            "u smoke 4096 4096 bf16 4 4096", "v smoke 7168 2048 bf16 5,0,17,300,2", "v smoke 7168 2048 fp8 5,0,17,300,2",
            "u smoke 8192 16384 bf16 16 2048"]


def estimate_s(lines, dtype_rate={"bf16": 5.5e14, "fp8": 9e14}, bw=2.8e12):
    """Rough wall time of a plan: roofline time per launch, reps as bench_expert_block picks them."""
    total = 0.0
    for ln in lines:
        p = ln.split()
        h, f, dt = int(p[2]), int(p[3]), p[4]
        c = [int(p[6])] * int(p[5]) if p[0] == "u" else [int(x) for x in p[5].split(",")]
        t_tok = sum(c)
        act = sum(1 for x in c if x > 0)
        t = max(6.0 * t_tok * h * f / dtype_rate[dt], (act * 3.0 * h * f * elem(dt) + t_tok * (4 * h + 6 * f)) / bw) + 20e-6
        reps = min(40, max(3, int(0.15 / t)))
        total += (reps + 3) * (t + 40e-6) + 4e-3
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--estimate", action="store_true", help="print the estimated run time of each plan")
    args = ap.parse_args()
    plans = {"grid": grid_lines(DTYPES), "skew": skew_lines(DTYPES), "smoke": smoke_lines()}
    try:
        plans["heldout"] = heldout_lines(DTYPES)
    except SystemExit as e:
        print(f"skipping heldout.plan: {e}")
    for name, lines in plans.items():
        with open(os.path.join(HERE, "plans", name + ".plan"), "w") as fh:
            fh.write(f"# generated by calibration/make_plan.py; {len(lines)} jobs\n")
            fh.write("\n".join(lines) + "\n")
        bf = [ln for ln in lines if " bf16 " in ln]
        msg = f"{name}.plan: {len(lines)} jobs"
        if args.estimate:
            msg += f", ~{estimate_s(lines):.0f} s all dtypes, ~{estimate_s(bf):.0f} s bf16 only"
        print(msg)


if __name__ == "__main__":
    main()
