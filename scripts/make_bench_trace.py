#!/usr/bin/env python3
"""Writes a per-token routing trace of DeepSeek-V3 shape for the trace-replay benchmark:
58 MoE layers (model layers 3..60), N tokens (default 1,048,576), top-8 of 256 experts, int16.
Each token's experts are base + 32*k (k = 0..7) mod 256 with base drawn from a per-layer
Zipf(0.449) popularity: eight distinct experts per token, skewed load. It is a benchmark input,
not a model of real routing. usage: scripts/make_bench_trace.py OUT.npz [TOKENS]"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))

from moesim.io import trace_meta, write_trace  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
    layers = list(range(3, 61))
    rng = np.random.default_rng(1)
    ids = np.empty((len(layers), tokens, 8), dtype=np.int16)
    offsets = (np.arange(8, dtype=np.int64) * 32)[None, :]
    for i in range(len(layers)):
        w = 1.0 / np.arange(1, 257) ** 0.449
        p = rng.permutation(w / w.sum())
        base = rng.choice(256, size=tokens, p=p)
        ids[i] = ((base[:, None] + offsets) % 256).astype(np.int16)
    write_trace(out, ids, trace_meta("deepseek-v3", 256, 8, layers, "scripts/make_bench_trace.py (synthetic benchmark input)"))
    print(f"wrote {out}: {len(layers)} layers x {tokens} tokens x top-8")


if __name__ == "__main__":
    main()
