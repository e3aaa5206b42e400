"""Summary statistics of repeated timings, shared by the Python benchmarks in calibration/
(torch_grouped_mm.py, moe_layer_bench.py): linear-interpolated quantiles, as numpy's default."""


def quantile(v, q):
    v = sorted(v)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def summary(us):
    """median / p10 / p90 / min / max of a list of times in us, rounded to ns."""
    return {"median_us": round(quantile(us, 0.5), 3), "p10_us": round(quantile(us, 0.1), 3), "p90_us": round(quantile(us, 0.9), 3),
            "min_us": round(min(us), 3), "max_us": round(max(us), 3)}
