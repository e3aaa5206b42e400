#!/usr/bin/env python3
"""Times layer_ops.DecodeAttention's block options (query heads per program, cached tokens per
step, warps) on a few decode shapes, each checked against the float64 reference first, to choose
the kernel's defaults. Prints one JSON line per (shape, option).

    python3 calibration/tune_decode.py
"""
import itertools
import json
import sys

import torch

import layer_ops as L


def bench(fn, reps=20):
    fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    g.replay()
    a.record()
    for _ in range(reps):
        g.replay()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) * 1e3 / reps


def main():
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    shapes = [("mla", 64, 1, 128, 4096), ("mla", 16, 1, 128, 8192), ("mla", 256, 1, 16, 2048),
              ("gqa", 64, 8, 4, 4096), ("gqa", 8, 4, 8, 8192)]
    for kind, b, hk, g, ctx in shapes:
        if kind == "mla":
            dk, dpe, dv = 512, 64, 512
            q = torch.randn(b, 1, g, 576, device="cuda", dtype=torch.bfloat16)
            kv = torch.randn(b, 1, ctx, 576, device="cuda", dtype=torch.bfloat16)
            k, v = kv, kv[..., :512]
        else:
            dk, dpe, dv = 128, 0, 128
            q = torch.randn(b, hk, g, 128, device="cuda", dtype=torch.bfloat16)
            k = torch.randn(b, hk, ctx, 128, device="cuda", dtype=torch.bfloat16)
            v = torch.randn(b, hk, ctx, 128, device="cuda", dtype=torch.bfloat16)
        ref = L.decode_reference(q[:2], k[:2], v[:2], dk + dpe)
        for bg, bn, nw in itertools.product([16, 32, 64], [16, 32, 64], [4, 8]):
            if bg > max(16, triton_pow2(g)):
                continue
            try:
                op = L.DecodeAttention(b, hk, g, ctx, dk, dpe, dv, "cuda", sms, block_g=bg, block_n=bn, num_warps=nw)
                out = op(q, k, v)
                err = ((out[:2].double() - ref).norm() / ref.norm()).item()
                us = bench(lambda: op(q, k, v)) if err < 2e-2 else None
                rec = {"kind": kind, "b": b, "hk": hk, "g": g, "ctx": ctx, "block_g": bg, "block_n": bn, "warps": nw,
                       "splits": op.splits, "err": round(err, 5), "us": None if us is None else round(us, 2)}
            except Exception as e:  # noqa: BLE001  (resources exceeded, compile failures)
                rec = {"kind": kind, "b": b, "g": g, "ctx": ctx, "block_g": bg, "block_n": bn, "warps": nw, "failed": str(e).splitlines()[0][:100]}
            print(json.dumps(rec), flush=True)
    return 0


def triton_pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


if __name__ == "__main__":
    sys.exit(main())
