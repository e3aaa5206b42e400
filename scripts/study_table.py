#!/usr/bin/env python3
"""Runs one experiment under several sets of --set overrides and prints a Markdown table of
chosen report metrics: the small what-if studies the README quotes.

usage: scripts/study_table.py EXPERIMENT.json --metric NAME=JSON.PATH ... --variant "LABEL|path=value,path=value" ...
  e.g. --metric "dev max/mean=expert_load.device_load_max_over_mean" --variant "EPLB 32|placement.policy=eplb-global,placement.redundant_experts=32"
Paths are dotted into report.json; a metric whose name ends in GiB/ms is converted from bytes/us.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def lookup(report, path):
    v = report
    for part in path.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment")
    ap.add_argument("--metric", action="append", required=True)
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--binary", default=str(ROOT / "build/moesim"))
    a = ap.parse_args()
    metrics = [m.split("=", 1) for m in a.metric]
    print("| variant | " + " | ".join(n for n, _ in metrics) + " |")
    print("| --- |" + " --- |" * len(metrics))
    for v in a.variant:
        label, _, sets = v.partition("|")
        args = [a.binary, "run", a.experiment, "-q"]
        for s in filter(None, sets.split(",")):
            args += ["--set", s]
        with tempfile.TemporaryDirectory() as out:
            r = subprocess.run(args + ["--out", out], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"| {label} | " + r.stderr.strip() + " |")
                continue
            report = json.loads((pathlib.Path(out) / "report.json").read_text())
        cells = []
        for name, path in metrics:
            x = lookup(report, path)
            if name.endswith("GiB"):
                x = x / 2**30
            elif name.endswith("ms"):
                x = x / 1e3
            cells.append(f"{x:.3f}" if isinstance(x, float) else str(x))
        print(f"| {label} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
