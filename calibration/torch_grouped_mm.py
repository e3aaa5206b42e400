#!/usr/bin/env python3
"""Times the SwiGLU expert block through PyTorch's grouped GEMM (backend `torch-grouped-mm`) for
every job of a plan file (see make_plan.py), printing the same JSON lines as bench_expert_block:

    y1 = torch._grouped_mm(x, w_gate_up.transpose(-2, -1), offs)   # [T, 2F], all E experts
    a  = F.silu(y1[:, :F]) * y1[:, F:]                             # PyTorch elementwise ops
    y2 = torch._grouped_mm(a, w_down.transpose(-2, -1), offs)      # [T, H]

x is [T, H] bf16 with expert i's tokens at rows offs[i-1]..offs[i]; weights are [E, 2F, H] and
[E, H, F] (nn.Linear layout), so the grouped GEMM reads them K-major, as it requires. All E
experts are passed (empty groups included), as a framework would. Only bf16 (fp8 lines are
reported as skipped). Each block is captured in a CUDA graph per input rotation (2), L2 is
flushed before every timed replay, and each replay is timed with CUDA events.
Usage: python3 torch_grouped_mm.py --plan FILE [--deadline-s S] [--selftest]
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as Fn

import layer_ops  # calibration/, the script's folder, is on sys.path
from timing_stats import summary

BACKEND = "torch-grouped-mm"


def parse_plan(path):
    jobs = []
    with open(path) as fh:
        for ln in fh:
            p = ln.split()
            if not p or p[0].startswith("#"):
                continue
            h, f, dt = int(p[2]), int(p[3]), p[4]
            counts = [int(p[6])] * int(p[5]) if p[0] == "u" else [int(x) for x in p[5].split(",")]
            jobs.append({"kind": p[0], "tag": p[1], "H": h, "F": f, "dtype": dt, "counts": counts})
    return jobs


def nonzero_rand(shape, scale, gen, chunk_elems=1 << 27):
    """bf16 uniform in +-scale with |v| >= scale/64, filled in slices of dim 0 so that the float32
    temporaries stay under ~1.5 GB (256 DeepSeek-V3 experts are 7.5G elements)."""
    out = torch.empty(shape, device="cuda", dtype=torch.bfloat16)
    flat = out.view(shape[0], -1)
    rows = max(1, chunk_elems // max(1, flat.shape[1]))
    for r0 in range(0, shape[0], rows):
        part = flat[r0:r0 + rows]
        v = torch.rand(part.shape, device="cuda", generator=gen, dtype=torch.float32) * 2 - 1
        v = torch.where(v.abs() < 1 / 64, torch.full_like(v, 1 / 64), v)
        part.copy_(v * scale)
        del v
    return out


def block(x, wgu, wd, offs, F):
    y1 = torch._grouped_mm(x, wgu.transpose(-2, -1), offs=offs)
    a = Fn.silu(y1[:, :F]) * y1[:, F:]
    return torch._grouped_mm(a, wd.transpose(-2, -1), offs=offs)


def block_fp8(x8, wgu, wd, offs, F):
    """x8 = (e4m3 tokens, row scales); wgu / wd = (e4m3 weights, scales)."""
    return layer_ops.experts_fp8(x8[0], x8[1], wgu[0], wgu[1], wd[0], wd[1], offs)


def quant_tokens(x):
    q, s = layer_ops.quant_fp8(x)
    return q, s.squeeze(-1)


def selftest_fp8(gen):
    H, F, counts = 256, 128, [16, 0, 32, 16]
    E = len(counts)
    wgu, wd = nonzero_rand((E, 2 * F, H), H ** -0.5, gen), nonzero_rand((E, H, F), F ** -0.5, gen)
    x = nonzero_rand((sum(counts), H), 1.0, gen)
    offs = torch.tensor(counts, device="cuda", dtype=torch.int32).cumsum(0).to(torch.int32)
    q_gu, q_d = layer_ops.quant_weights_fp8(wgu), layer_ops.quant_weights_fp8(wd)
    y = block_fp8(quant_tokens(x), q_gu, q_d, offs, F).double()
    ref = block(x, wgu, wd, offs, F).double()
    err = ((y - ref).norm() / ref.norm()).item()
    ok = err < 8e-2 and torch.isfinite(y).all().item()
    print(json.dumps({"kind": "selftest", "backend": BACKEND, "fp8_rel_err": err, "ok": bool(ok)}), flush=True)
    return ok


def selftest(gen):
    H, F, counts = 256, 128, [3, 0, 5, 1]
    E, T = len(counts), sum(counts)
    wgu, wd = nonzero_rand((E, 2 * F, H), H ** -0.5, gen), nonzero_rand((E, H, F), F ** -0.5, gen)
    x = nonzero_rand((T, H), 1.0, gen)
    offs = torch.tensor(counts, device="cuda", dtype=torch.int32).cumsum(0).to(torch.int32)
    y = block(x, wgu, wd, offs, F).double()
    ref, o = [], 0
    for e, c in enumerate(counts):
        xe = x[o:o + c].double()
        y1 = xe @ wgu[e].double().T
        ref.append((Fn.silu(y1[:, :F]) * y1[:, F:]) @ wd[e].double().T)
        o += c
    ref = torch.cat(ref)
    err = ((y - ref).norm() / ref.norm()).item()
    ok = err < 2e-2 and torch.isfinite(y).all().item()
    print(json.dumps({"kind": "selftest", "backend": BACKEND, "bf16_rel_err": err, "ok": bool(ok)}), flush=True)
    return ok


def time_graphs(graphs, flush, target_ms=150.0, min_reps=3, max_reps=40, warmup=1):
    s = torch.cuda.current_stream()
    for w in range(warmup):
        flush()
        graphs[w % len(graphs)].replay()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    flush()
    a.record(s)
    graphs[0].replay()
    b.record(s)
    b.synchronize()
    probe = max(a.elapsed_time(b), 1e-3)
    reps = max(min_reps, min(max_reps, int(target_ms / probe)))
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for r, (e0, e1) in enumerate(ev):
        flush()
        e0.record(s)
        graphs[r % len(graphs)].replay()
        e1.record(s)
    torch.cuda.synchronize()
    us = [e0.elapsed_time(e1) * 1e3 for e0, e1 in ev]
    st = summary(us)
    del st["max_us"]
    return {**st, "reps": reps}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan")
    ap.add_argument("--deadline-s", type=float, default=1e9)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    t0 = time.monotonic()
    if not hasattr(torch, "_grouped_mm"):
        print(json.dumps({"kind": "skipped", "backend": BACKEND, "reason": f"torch {torch.__version__} has no _grouped_mm"}))
        return 0
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1)
    if args.selftest and not selftest(gen):
        return 1
    fp8_ok = hasattr(torch, "_scaled_grouped_mm") and (not args.selftest or selftest_fp8(gen))
    if not args.plan:
        return 0
    jobs = parse_plan(args.plan)
    max_e, max_t = {}, {}
    for j in jobs:
        k = (j["H"], j["F"], j["dtype"])
        max_e[k] = max(max_e.get(k, 0), len(j["counts"]))
        max_t[k] = max(max_t.get(k, 1), sum(j["counts"]))
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    scratch = torch.empty(max(2 * l2, 64 << 20), dtype=torch.uint8, device="cuda")
    flush = scratch.zero_
    cur, wgu, wd, xbuf = None, None, None, None
    x8 = None
    for i, j in enumerate(jobs):
        if time.monotonic() - t0 > args.deadline_s:
            print(json.dumps({"kind": "truncated", "backend": BACKEND, "done": i, "total": len(jobs)}), flush=True)
            break
        H, F, counts = j["H"], j["F"], j["counts"]
        rec = {"kind": "expert_block", "backend": BACKEND, "tag": j["tag"], "dtype": j["dtype"], "hidden": H, "intermediate": F,
               "experts": len(counts)}
        rec.update({"counts": counts} if j["kind"] == "v" else {"tokens": counts[0]})
        fp8 = j["dtype"] == "fp8"
        if j["dtype"] not in ("bf16", "fp8") or (fp8 and not fp8_ok):
            rec["skipped"] = "dtype"
            print(json.dumps(rec), flush=True)
            continue
        T = sum(counts)
        try:
            first = cur != (H, F, j["dtype"])
            if first:
                wgu = wd = xbuf = x8 = None
                torch.cuda.empty_cache()
                key = (H, F, j["dtype"])
                wgu = nonzero_rand((max_e[key], 2 * F, H), H ** -0.5, gen)
                wd = nonzero_rand((max_e[key], H, F), F ** -0.5, gen)
                if fp8:
                    wgu, wd = layer_ops.quant_weights_fp8(wgu), layer_ops.quant_weights_fp8(wd)
                    torch.cuda.empty_cache()
                xbuf = nonzero_rand((2, max_t[key], H), 1.0, gen)  # 2 input rotations, sliced per job
                x8 = [quant_tokens(xbuf[r]) for r in range(2)] if fp8 else None
                cur = key
            E = len(counts)
            offs = torch.tensor(counts, device="cuda", dtype=torch.int32).cumsum(0).to(torch.int32)
            if fp8:
                xs = [(x8[r][0][:T], x8[r][1][:T]) for r in range(2)]
                run_block = lambda x: block_fp8(x, (wgu[0][:E], wgu[1][:E]), (wd[0][:E], wd[1][:E]), offs, F)  # noqa: E731
            else:
                xs = [xbuf[r, :T] for r in range(2)]
                run_block = lambda x: block(x, wgu[:E], wd[:E], offs, F)  # noqa: E731
            st = {"median_us": 0.0, "p10_us": 0.0, "p90_us": 0.0, "min_us": 0.0, "reps": 0}
            if T > 0:
                if first:  # warm-up outside capture (kernel selection, lazy init)
                    run_block(xs[0])
                    torch.cuda.synchronize()
                graphs = []
                for x in xs:
                    g = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(g):
                        run_block(x)
                    graphs.append(g)
                st = time_graphs(graphs, flush)
                del graphs
            rec.update({"total_tokens": T, "active_experts": sum(1 for c in counts if c > 0)})
            rec.update(st)
            rec["tflops"] = round(6.0 * T * H * F / st["median_us"] * 1e-6, 2) if st["median_us"] > 0 else 0.0
            rec["graph"] = True
        except torch.cuda.OutOfMemoryError:
            rec["skipped"] = "memory"
            wgu = wd = xbuf = x8 = None
            cur = None
            torch.cuda.empty_cache()
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
