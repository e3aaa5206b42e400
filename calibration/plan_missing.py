#!/usr/bin/env python3
"""Prints the lines of a plan whose uniform grid points a calibration table lacks for one backend:
what to measure to complete an older table after the grid grew (run_calibration.sh
--missing-from TABLE, then assemble.py --base TABLE). Comment lines and non-grid lines (skewed,
held-out) pass through unchanged; a missing table keeps every line.
Python stdlib only. Usage: python3 plan_missing.py TABLE BACKEND PLAN > OUT
"""
import json
import os
import sys


def measured_points(table_path, backend):
    """{(dtype, hidden, intermediate, experts, tokens)} that the table has for the backend."""
    if not os.path.exists(table_path):
        return set()
    with open(table_path) as fh:
        table = json.load(fh)
    have = set()
    for dtype, t in table.get("expert_block", {}).get(backend, {}).items():
        if dtype == "implementation":
            continue
        for e in t["uniform"]:
            have.update((dtype, e["hidden"], e["intermediate"], e["experts"], n) for n in e["tokens"])
    return have


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    table, backend, plan = sys.argv[1:]
    have = measured_points(table, backend)
    kept = dropped = 0
    with open(plan) as fh:
        for ln in fh:
            p = ln.split()
            if p and p[0] == "u" and p[1] == "grid" and (p[4], int(p[2]), int(p[3]), int(p[5]), int(p[6])) in have:
                dropped += 1
                continue
            kept += 1
            sys.stdout.write(ln)
    print(f"plan_missing.py: {backend}: {dropped} grid points already in {table}, {kept} lines kept", file=sys.stderr)


if __name__ == "__main__":
    main()
