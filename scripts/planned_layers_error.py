#!/usr/bin/env python3
"""Step time with routing.planned_layers = N against every MoE layer planned, for the bundled
experiments that draw their routing (synthetic or counts). Prints a Markdown table: the relative
step-time error and the wall time of each run, on this machine.

usage: scripts/planned_layers_error.py [--moesim build/moesim] [--planned 1 4 8]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = [
    "experiments/default.json",
    "experiments/deepseek-v3-real-counts.json",
    "experiments/deepseek-serving/prefill-ep32.json",
    "experiments/deepseek-serving/decode-ep144.json",
    "experiments/studies/deepseek-v3-training-overlap.json",
    "experiments/studies/eplb-decode-real-counts.json",
    "experiments/bench/deepseek-v3-prefill-ep32.json",
    "experiments/bench/deepseek-v3-decode-ep320.json",
]


def step(moesim, experiment, out, extra):
    """(step_time_us, wall seconds) of one run; None when it fails (e.g. ../shared absent)."""
    t0 = time.monotonic()
    r = subprocess.run([moesim, "run", experiment, "--out", out, "-q", "--threads", "1"] + extra, cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{experiment}: {r.stderr.strip()}", file=sys.stderr)
        return None
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)["step_time_us"], time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moesim", default="build/moesim")
    ap.add_argument("--planned", type=int, nargs="+", default=[1, 4, 8])
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="moesim-planned-")
    heads = " | ".join(f"N = {n}" for n in args.planned)
    print(f"| experiment | all layers: step, wall | {heads} |")
    print("| --- | --- |" + " --- |" * len(args.planned))
    for e in EXPERIMENTS:
        exact = step(args.moesim, e, os.path.join(tmp, "all"), [])
        if exact is None:
            continue
        cells = []
        for n in args.planned:
            r = step(args.moesim, e, os.path.join(tmp, f"n{n}"), ["--set", f"routing.planned_layers={n}"])
            cells.append("failed" if r is None else f"{100 * (r[0] / exact[0] - 1):+.2f}%, {r[1]:.2f} s")
        print(f"| `{e}` | {exact[0] / 1000:,.1f} ms, {exact[1]:.2f} s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
