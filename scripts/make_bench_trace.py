#!/usr/bin/env python3
"""Writes a per-token routing trace of DeepSeek-V3 shape for the trace-replay benchmark:
58 MoE layers (model layers 3..60), N tokens (default 1,048,576), top-8 of 256 experts, int16.
Each token's experts are base + 32*k (k = 0..7) mod 256 with base drawn from a per-layer
Zipf(0.449) popularity: eight distinct experts per token, skewed load. It is a benchmark input,
not a model of real routing. usage: scripts/make_bench_trace.py OUT.npz [TOKENS]"""
import json
import sys

import numpy as np


def main():
    out = sys.argv[1]
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
    meta = {"format": "moesim-trace", "version": 1, "model": "deepseek-v3", "num_experts": 256, "top_k": 8,
            "layers": layers, "source": "scripts/make_bench_trace.py (synthetic benchmark input)"}
    np.savez(out, topk_ids=ids, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    print(f"wrote {out}: {len(layers)} layers x {tokens} tokens x top-8")


if __name__ == "__main__":
    main()
