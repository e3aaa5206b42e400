#!/usr/bin/env python3
"""Fits a Zipf exponent to real per-layer expert counts (SGLang logical_count JSON).

For each MoE layer the experts are sorted by load; the exponent s is chosen so that a Zipf(s)
popularity over the same number of experts has the same mean max/mean load ratio and the same
mean top-10% share as the real layers (least squares over s on a fine grid). Prints the fit.
usage: scripts/fit_zipf.py ../shared/traces/deepseek-sglang-expert-counts/prefill_in1024.json
"""
import json
import sys


def stats(shares):
    n = len(shares)
    s = sorted(shares, reverse=True)
    total = sum(s)
    top = sum(s[: max(1, n // 10)]) / total
    return s[0] / (total / n), top


def main():
    rows = json.load(open(sys.argv[1]))["logical_count"]
    rows = [r for r in rows if sum(r) > 0]
    n = len(rows[0])
    real = [stats(r) for r in rows]
    mm = sum(r[0] for r in real) / len(real)
    top = sum(r[1] for r in real) / len(real)
    best = None
    for i in range(0, 3001):
        s = i / 1000
        z = [1 / (k + 1) ** s for k in range(n)]
        zmm, ztop = stats(z)
        err = ((zmm - mm) / mm) ** 2 + ((ztop - top) / top) ** 2
        if best is None or err < best[0]:
            best = (err, s, zmm, ztop)
    print(json.dumps({"file": sys.argv[1], "moe_layers": len(rows), "experts": n,
                      "real_max_over_mean": round(mm, 3), "real_top10pct_share": round(top, 4),
                      "zipf_exponent": best[1], "zipf_max_over_mean": round(best[2], 3),
                      "zipf_top10pct_share": round(best[3], 4)}))


if __name__ == "__main__":
    main()
