#!/usr/bin/env python3
"""Times every op of a transformer layer (calibration/layer_ops.py) on one GPU over a grid of
shapes, for moesim's op tables (hw_profiles/<gpu>.ops.json, written from this output by
calibration/assemble_ops.py).

    python3 calibration/bench_layer_ops.py --out DIR [--ops gemm,rms_norm,...] [--smoke]
                                           [--deadline-s 540] [--commit SHA]

Per grid point three numbers, each the median of several runs:
  graph_us  GPU time of the op inside a CUDA graph: a graph of R copies of [L2 flush, op] and one
            of R flushes are each replayed 5 times; graph_us = (t_ops - t_flushes) / R. So the op
            starts with a cold L2 (a layer streams other weights in between) and no launch gaps
            but its own kernels' boundaries, as in a graph-captured forward pass.
  eager_us  the op launched from Python onto an idle GPU (flush, synchronize, event, op, event):
            max(GPU time, host launch time) for a lone op.
  host_us   the host's time to issue the op in eager mode (wall clock around the call), called
            again and again;
  host_cold_us  the same right after ~30 other small ops (Timer.pollute), as inside a layer.
plus `kernel` (the implementation; for SDPA the backend that was fastest; the others that ran
are under `tried`). Every op is checked against a float64 reference once before it is timed
(`check` lines); an op whose check fails is not timed and the output says so.

Output: DIR/ops.jsonl (one JSON object per line: kind "point", "check", "skipped", "truncated",
"info") and DIR/provenance-ops.json.
"""
import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import layer_ops as L  # noqa: E402
from op_grids import GRIDS, ORDER  # noqa: E402
from timing_stats import quantile  # noqa: E402

DEV = "cuda"
BF16 = torch.bfloat16

SMOKE = {k: {a: (v[:2] if len(v) > 2 else v) for a, v in g.items()} for k, g in GRIDS.items()}
MAX_ELEMS = 1 << 31  # no single tensor above 2G elements (4 GB of bf16)
MAX_FLOP = 2e13


def out_line(fh, rec):
    line = json.dumps(rec)
    fh.write(line + "\n")
    fh.flush()
    print(line, flush=True)


def rand(shape, dtype=BF16, scale=1.0):
    if dtype in (BF16, torch.float32):
        return torch.empty(shape, device=DEV, dtype=dtype).normal_(0, scale)
    return torch.empty(shape, device=DEV, dtype=BF16).normal_(0, scale).to(dtype)


def points(grid):
    keys = list(grid)
    idx = [0] * len(keys)
    while True:
        yield {k: grid[k][i] for k, i in zip(keys, idx)}
        for d in reversed(range(len(keys))):
            idx[d] += 1
            if idx[d] < len(grid[keys[d]]):
                break
            idx[d] = 0
        else:
            return


class Timer:
    def __init__(self):
        l2 = torch.cuda.get_device_properties(0).L2_cache_size
        self.scratch = torch.empty(2 * l2, dtype=torch.uint8, device=DEV)
        self.flush_graphs = {}
        g = torch.Generator(device=DEV)
        g.manual_seed(11)
        self.tiny = [torch.randn((16, 64), device=DEV, dtype=BF16, generator=g) for _ in range(3)]
        self.tiny_idx = torch.randint(0, 16, (16,), device=DEV, generator=g)

    def pollute(self):
        """About 30 varied small PyTorch ops, as the other ops of a layer run between two calls of
        the same op there (their Python, dispatcher and driver paths evict the op's own from the
        host's caches); host_cold_us is timed right after it."""
        a, b, c = self.tiny
        for _ in range(2):
            x = torch.matmul(a, b.t())
            w, i = torch.softmax(x.float(), -1).topk(2, -1)
            y = torch.nn.functional.rms_norm(a, (64,)) + c
            z = torch.cat((-y[:, 32:], y[:, :32]), -1) * a
            o = torch.argsort(i.reshape(-1), stable=True)
            q = z.index_select(0, self.tiny_idx) * torch.nn.functional.silu(b)
            r = q.view(16, 4, 16).sum(1).abs().amax(-1, keepdim=True)
            del w, o, r

    def flush(self):
        self.scratch.zero_()

    def _capture(self, body, copies):
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            body()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(copies):
                body()
        return g

    def _replay_us(self, g, reps=5):
        st = torch.cuda.current_stream()
        g.replay()
        us = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(st)
            g.replay()
            b.record(st)
            b.synchronize()
            us.append(a.elapsed_time(b) * 1e3)
        return us

    def flush_us(self, copies):
        if copies not in self.flush_graphs:
            g = self._capture(self.flush, copies)
            self.flush_graphs[copies] = quantile(self._replay_us(g, 7), 0.5)
        return self.flush_graphs[copies]

    def measure(self, fn, est_us=None):
        # warm-up (Triton compile, cuBLAS heuristics), then a probe for the number of copies
        fn()
        torch.cuda.synchronize()
        host, eager = [], []
        for _ in range(7):
            self.flush()
            torch.cuda.synchronize()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            t0 = time.perf_counter()
            fn()
            host.append((time.perf_counter() - t0) * 1e6)
            b.record()
            b.synchronize()
            eager.append(a.elapsed_time(b) * 1e3)
        cold = []
        for _ in range(7):
            self.pollute()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            cold.append((time.perf_counter() - t0) * 1e6)
        torch.cuda.synchronize()
        probe = quantile(eager, 0.5)
        copies = int(max(1, min(8, 4000.0 / max(probe, 1.0))))

        def body():
            self.flush()
            fn()
        g = self._capture(body, copies)
        t = self._replay_us(g)
        del g
        fl = self.flush_us(copies)
        per = [(x - fl) / copies for x in t]
        return {"graph_us": round(max(quantile(per, 0.5), 0.0), 3), "graph_p10_us": round(max(quantile(per, 0.1), 0.0), 3),
                "graph_p90_us": round(max(quantile(per, 0.9), 0.0), 3), "eager_us": round(quantile(eager, 0.5), 3),
                "host_us": round(quantile(host, 0.5), 3), "host_cold_us": round(quantile(cold, 0.5), 3), "copies": copies}


# ------------------------------------------------------------------------------------------ builders
# Each returns (fn, kernel name, reference check or None); check() -> relative error.
def rel_err(y, ref):
    y, ref = y.double(), ref.double()
    return ((y - ref).norm() / ref.norm().clamp(min=1e-30)).item()


def b_gemm(p):
    M, N, K = p["M"], p["N"], p["K"]
    a, w = rand((M, K)), rand((N, K), scale=K ** -0.5)
    return (lambda: L.gemm(a, w)), "torch.matmul bf16 (cuBLAS)", lambda: rel_err(L.gemm(a, w), a.double() @ w.double().t())


def b_gemm_fp8(p):
    M, N, K = p["M"], p["N"], p["K"]
    a8, sa = L.quant_fp8(rand((M, K)))
    w8, sw = L.quant_fp8(rand((N, K), scale=K ** -0.5))
    sw = sw.t().contiguous()
    ref = (a8.double() * sa.double()) @ (w8.double() * sw.t().double()).t()
    return (lambda: L.gemm_fp8(a8, sa, w8, sw)), "torch._scaled_mm e4m3 row-wise scales, bf16 out (cuBLASLt)", \
        lambda: rel_err(L.gemm_fp8(a8, sa, w8, sw), ref)


def sdpa_ref(q, k, v):
    if k.shape[1] != q.shape[1]:
        r = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
    s = q.shape[2]
    sc = (q.double() @ k.double().transpose(-1, -2)) * q.shape[-1] ** -0.5
    sc = sc.masked_fill(torch.ones(s, s, dtype=torch.bool, device=DEV).triu(1), float("-inf"))
    return torch.softmax(sc, -1) @ v.double()


def fastest_sdpa(make_fn, ref_fn, timer, small):
    """Times each SDPA backend that runs (and passes the check on a small case); returns the fastest."""
    tried = {}
    for be in L.SDPA_BACKENDS:
        try:
            err = ref_fn(be, small)
            if not err < 2e-2:
                tried[be] = f"check failed: rel err {err:.3g}"
                continue
            tried[be] = timer.measure(make_fn(be))
        except Exception as e:  # a backend that does not take the shape
            tried[be] = f"not run: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    ok = {k: v for k, v in tried.items() if isinstance(v, dict)}
    if not ok:
        return None, tried
    best = min(ok, key=lambda k: ok[k]["graph_us"])
    return (best, ok[best]), {k: (v["graph_us"] if isinstance(v, dict) else v) for k, v in tried.items()}


def attn_prefill_case(p, small):
    s = 128 if small else p["seq"]
    h, d = (4 if small else p["heads"]), p["head_dim"]
    return rand((1, h, s, d)), rand((1, h, s, d)), rand((1, h, s, d))


def mla_prefill_case(p, small):
    s = 128 if small else p["seq"]
    h = 4 if small else p["heads"]
    return rand((1, h, s, 128)), rand((1, h, s, 64)), rand((1, h, s, 128)), rand((1, 1, s, 64)), rand((1, h, s, 128))


def b_decode(p, sms):
    b, ctx, hk, g = p["batch"], p["context"], p["kv_heads"], p["group"]
    q = rand((b, hk, g, 128))
    k, v = rand((b, hk, ctx, 128)), rand((b, hk, ctx, 128))
    op = L.DecodeAttention(b, hk, g, ctx, 128, 0, 128, DEV, sms)

    def check():
        bs = min(b, 4)
        return rel_err(op(q, k, v)[:bs], L.decode_reference(q[:bs], k[:bs], v[:bs], 128))  # op runs on the whole batch
    return (lambda: op(q, k, v)), f"moesim Triton split-KV flash decoding (splits {op.splits}, block_g {op.block_g})", check


def b_decode_mla(p, sms):
    b, ctx, h = p["batch"], p["context"], p["heads"]
    ql, qp = rand((b, h, 512)), rand((b, h, 64))
    kv = rand((b, 1, ctx, 576))
    op = L.DecodeAttention(b, 1, h, ctx, 512, 64, 512, DEV, sms)

    def check():
        bs = min(b, 2)
        q = torch.cat((ql, qp), -1).view(b, 1, h, 576)
        ref = L.decode_reference(q[:bs], kv[:bs], kv[:bs, ..., :512], 576).view(bs, h, 512)
        return rel_err(L.mla_decode(op, ql, qp, kv)[:bs], ref)
    name = f"q = cat(q_latent, q_pe), then moesim Triton split-KV flash decoding, MLA absorbed (splits {op.splits}, block_g {op.block_g})"
    return (lambda: L.mla_decode(op, ql, qp, kv)), name, check


def b_mla_absorb(p):
    t, h = p["tokens"], p["heads"]
    qn, wuk = rand((t, h, 128)), rand((h, 128, 512), scale=128 ** -0.5)
    ol, wuv = rand((t, h, 512)), rand((h, 512, 128), scale=512 ** -0.5)

    def both():
        return L.mla_absorb_q(qn, wuk), L.mla_absorb_o(ol, wuv)
    return both, "torch.bmm x 2 on head-major views (cuBLAS strided batched) + output reshape", \
        lambda: rel_err(L.mla_absorb_q(qn, wuk), torch.einsum("thd,hde->the", qn.double(), wuk.double()))


def b_rms_norm(p):
    x, w = rand((p["rows"], p["width"])), rand((p["width"],))
    ref = lambda: x.double() * torch.rsqrt(x.double().pow(2).mean(-1, keepdim=True) + 1e-6) * w.double()  # noqa: E731
    return (lambda: L.rms_norm(x, w)), "F.rms_norm", lambda: rel_err(L.rms_norm(x, w), ref())


def b_add(p):
    x, r = rand((p["rows"], p["width"])), rand((p["rows"], p["width"]))
    return (lambda: L.add_(x, r)), "Tensor.add_", None


def b_silu_mul(p):
    y = rand((p["rows"], 2 * p["width"]))
    f = p["width"]
    ref = lambda: torch.nn.functional.silu(y[:, :f].double()) * y[:, f:].double()  # noqa: E731
    return (lambda: L.silu_mul(y)), "F.silu(g) * u (2 kernels)", lambda: rel_err(L.silu_mul(y), ref())


def b_rope(p):
    t, h, d = p["tokens"], p["heads"], p["rot_dim"]
    x = rand((t, h, d))
    ang = rand((t, 1, d), torch.float32)
    cos, sin = ang.cos().to(BF16), ang.sin().to(BF16)
    return (lambda: L.rope(x, cos, sin)), "neox rotary in PyTorch elementwise ops (cat, 2 mul, add)", None


def b_quant(p):
    x = rand((p["rows"], p["width"]))
    return (lambda: L.quant_fp8(x)), "row-wise e4m3: abs, amax, clamp, div, cast (PyTorch ops)", \
        lambda: rel_err(L.quant_fp8(x)[0].double() * L.quant_fp8(x)[1].double(), x.double())


def b_topk_softmax(p):
    lg = rand((p["tokens"], p["experts"]))
    k = min(p["top_k"], p["experts"])
    return (lambda: L.topk_softmax(lg, k)), "softmax (fp32), topk, renormalise (PyTorch ops)", None


def b_topk_sigmoid(p):
    lg = rand((p["tokens"], p["experts"]))
    bias = rand((p["experts"],), torch.float32, 0.1)
    return (lambda: L.topk_sigmoid_grouped(lg, bias, p["top_k"], 8, 4)), \
        "DeepSeek-V3 noaux_tc in PyTorch ops (8 groups, 4 chosen)", None


def routing_ids(t, k, e):
    g = torch.Generator(device=DEV)
    g.manual_seed(7)
    return torch.rand((t, e), device=DEV, generator=g).topk(k, dim=-1).indices


def b_permute(p):
    t, k, hdim = p["tokens"], p["top_k"], p["width"]
    x, ids = rand((t, hdim)), routing_ids(t, k, 64)
    return (lambda: L.permute(x, ids, 64)), "argsort (stable) + scatter_add counts + cumsum + index_select", None


def b_unpermute(p):
    t, k, hdim = p["tokens"], p["top_k"], p["width"]
    ids = routing_ids(t, k, 64)
    order = torch.argsort(ids.reshape(-1), stable=True)
    y, w = rand((t * k, hdim)), torch.rand((t, k), device=DEV)
    return (lambda: L.unpermute(y, order, w)), "inverse permutation + index_select + mul + sum over top-k", None


def elems(p):
    return math.prod(v for v in p.values())


def too_big(op, p):
    if op in ("gemm", "gemm_fp8"):
        return 2.0 * p["M"] * p["N"] * p["K"] > MAX_FLOP
    if op == "attn_decode":
        return p["batch"] * p["context"] * p["kv_heads"] * 128 > MAX_ELEMS
    if op in ("permute", "unpermute"):
        return p["tokens"] * p["top_k"] * p["width"] > MAX_ELEMS
    if op == "rope":
        return p["tokens"] * p["heads"] * p["rot_dim"] > MAX_ELEMS
    return elems(p) > 4 * MAX_ELEMS


def run_op(op, grid, timer, fh, deadline, sms):
    builders = {"gemm": b_gemm, "gemm_fp8": b_gemm_fp8, "mla_absorb": b_mla_absorb, "rms_norm": b_rms_norm,
                "add": b_add, "silu_mul": b_silu_mul, "rope": b_rope, "quant_fp8": b_quant,
                "topk_softmax": b_topk_softmax, "topk_sigmoid_grouped": b_topk_sigmoid, "permute": b_permute,
                "unpermute": b_unpermute, "attn_decode": lambda p: b_decode(p, sms),
                "attn_decode_mla": lambda p: b_decode_mla(p, sms)}
    checked = False
    for p in points(grid):
        if time.monotonic() > deadline:
            out_line(fh, {"kind": "truncated", "op": op, "at": p})
            return False
        if too_big(op, p):
            out_line(fh, {"kind": "skipped", "op": op, **p, "reason": "above the size cap"})
            continue
        try:
            if op in ("attn_prefill", "attn_prefill_mla"):
                rec = time_sdpa(op, p, timer)
            else:
                fn, kernel, check = builders[op](p)
                if check is not None and not checked:
                    err = check()
                    out_line(fh, {"kind": "check", "op": op, **p, "rel_err": err, "ok": err < 3e-2})
                    if not err < 3e-2:
                        out_line(fh, {"kind": "skipped", "op": op, "reason": f"check failed: rel err {err}"})
                        return True
                    checked = True
                rec = {"kernel": kernel, **timer.measure(fn)}
                del fn, check
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            out_line(fh, {"kind": "skipped", "op": op, **p, "reason": "out of memory"})
            continue
        if rec is None:
            out_line(fh, {"kind": "skipped", "op": op, **p, "reason": "no SDPA backend ran"})
            continue
        out_line(fh, {"kind": "point", "op": op, **p, **rec})
    torch.cuda.empty_cache()
    return True


def time_sdpa(op, p, timer):
    if op == "attn_prefill":
        def make(be):
            q, k, v = attn_prefill_case(p, False)
            return lambda: L.sdpa(q, k, v, be)

        def check(be, _small):
            q, k, v = attn_prefill_case(p, True)
            return rel_err(L.sdpa(q, k, v, be), sdpa_ref(q, k, v))
    else:
        def make(be):
            qn, qp, kn, kp, v = mla_prefill_case(p, False)
            return lambda: L.mla_prefill(qn, qp, kn, kp, v, be)

        def check(be, _small):
            qn, qp, kn, kp, v = mla_prefill_case(p, True)
            k = torch.cat((kn, kp.expand(-1, kn.shape[1], -1, -1)), -1)
            return rel_err(L.mla_prefill(qn, qp, kn, kp, v, be), sdpa_ref(torch.cat((qn, qp), -1), k, v))
    best, tried = fastest_sdpa(make, check, timer, True)
    if best is None:
        return None
    kernel = "SDPA " + best[0].lower() + (" (k = cat(k_nope, k_pe) materialised)" if op == "attn_prefill_mla" else "")
    return {"kernel": kernel, **best[1], "tried_graph_us": tried}


def graph_launch_us(timer):
    x = torch.zeros(1, device=DEV)
    g = timer._capture(lambda: x.add_(1), 1)
    return round(quantile(timer._replay_us(g, 21), 0.5), 3)


def smi():
    try:
        q = "name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw,power.limit,clocks_event_reasons.active"
        return subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"unavailable: {e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ops", default=",".join(ORDER))
    ap.add_argument("--smoke", action="store_true", help="two values per axis")
    ap.add_argument("--deadline-s", type=float, default=540)
    ap.add_argument("--commit", default="")
    args = ap.parse_args()
    t0 = time.monotonic()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1)
    props = torch.cuda.get_device_properties(0)
    before = smi()
    timer = Timer()
    grids = SMOKE if args.smoke else GRIDS
    with open(out / "ops.jsonl", "w") as fh:
        out_line(fh, {"kind": "info", "graph_launch_us": graph_launch_us(timer), "l2_bytes": props.L2_cache_size,
                      "sms": props.multi_processor_count})
        for op in args.ops.split(","):
            if op.startswith("attn_decode") and L.triton is None:
                out_line(fh, {"kind": "skipped", "op": op, "reason": "no Triton"})
                continue
            t1 = time.monotonic()
            if not run_op(op, grids[op], timer, fh, t0 + args.deadline_s, props.multi_processor_count):
                break
            out_line(fh, {"kind": "info", "op": op, "seconds": round(time.monotonic() - t1, 1)})
    prov = {"gpu_name": props.name, "sms": props.multi_processor_count, "torch": torch.__version__,
            "cuda": torch.version.cuda, "triton": getattr(L.triton, "__version__", None) if L.triton else None,
            "python": platform.python_version(), "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": args.commit, "command": "python3 calibration/bench_layer_ops.py " + " ".join(sys.argv[1:]).replace(str(out), "OUT"),
            "nvidia_smi_before": before, "nvidia_smi_after": smi(), "seconds": round(time.monotonic() - t0, 1),
            "env": {k: os.environ.get(k, "") for k in ("CUDA_VISIBLE_DEVICES",)}}
    (out / "provenance-ops.json").write_text(json.dumps(prov, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
