#!/usr/bin/env python3
"""Measure the two roofline ceilings of one CUDA GPU and write them, with provenance, as JSON.

What it measures (all on random data, never zeros; timed with CUDA events; warm-up first;
median over the timed repetitions):
  * dense GEMM throughput, C = A @ B with M = N = K = 8192 (bf16, fp16, tf32, fp32), 2*M*N*K FLOP;
  * fp8 (e4m3) GEMM through torch._scaled_mm, bf16 output; recorded as failed if it fails;
  * HBM bandwidth: a large device-to-device copy (bytes read + bytes written) and a read-only
    reduction (bytes read);
  * launch overhead: back-to-back launches of a tiny kernel (host-side rate, and CUDA graph);
  * memory visible to a framework: torch.cuda.mem_get_info() right after context creation;
  * provenance: device name, SM count, driver, torch/CUDA versions, UTC date, nvidia-smi clocks
    (idle, and right after the GEMMs), power limit.
Only read-only nvidia-smi queries are made: the card's settings are left as found.

Usage: python3 calibration/measure_roofline.py --out DIR   ->  DIR/roofline_<gpu>.json
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))

from moesim.profiles import gpu_tag  # noqa: E402


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as e:  # provenance is best effort
        return f"<failed: {e}>"


def time_events(fn, warmup, reps):
    """Median, min and max milliseconds of fn() timed with CUDA events, one event pair per call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "reps": reps,
            "warmup": warmup}


def rel_err(out, ref):
    out = out.double()
    ref = ref.double()
    return (torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref)).item()


def gemm(dtype, n, warmup, reps, label):
    torch.backends.cuda.matmul.allow_tf32 = label == "tf32"
    # Two input sets, alternated, so repeated runs don't reuse one set's cache lines.
    sets = [(torch.randn(n, n, device="cuda").to(dtype), torch.randn(n, n, device="cuda").to(dtype)) for _ in range(2)]
    c = torch.empty(n, n, device="cuda", dtype=dtype)
    k = [0]

    def run():
        a, b = sets[k[0] & 1]
        k[0] += 1
        torch.matmul(a, b, out=c)

    t = time_events(run, warmup, reps)
    # Correctness: 256 rows against a float64 reference on the GPU.
    a, b = sets[0]
    torch.matmul(a, b, out=c)
    ref = a[:256].double() @ b.double()
    err = rel_err(c[:256], ref)
    flop = 2.0 * n * n * n
    r = {"dtype": label, "m": n, "n": n, "k": n, "flop": flop, **t,
         "tflops_median": flop / (t["median_ms"] * 1e-3) / 1e12,
         "tflops_best": flop / (t["min_ms"] * 1e-3) / 1e12, "rel_err_vs_fp64": err}
    sets = c = None  # frees the buffers (the closure above holds the names)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.cuda.empty_cache()
    return r


def gemm_fp8(n, warmup, reps):
    try:
        if not hasattr(torch, "_scaled_mm"):
            raise RuntimeError("torch._scaled_mm not available")
        f8 = torch.float8_e4m3fn
        sets = []
        for _ in range(2):
            a32 = torch.randn(n, n, device="cuda")
            b32 = torch.randn(n, n, device="cuda")
            a = a32.to(f8)                       # row-major (M, K)
            b = b32.t().contiguous().to(f8).t()  # column-major (K, N), as cuBLASLt fp8 wants
            sets.append((a, b))
        one = torch.tensor(1.0, device="cuda")
        k = [0]

        def run():
            a, b = sets[k[0] & 1]
            k[0] += 1
            return torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)

        t = time_events(run, warmup, reps)
        a, b = sets[0]
        out = torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        ref = a[:256].double() @ b.double()  # reference on the same fp8-rounded operands
        err = rel_err(out[:256], ref)
        flop = 2.0 * n * n * n
        r = {"dtype": "fp8_e4m3 (torch._scaled_mm, bf16 out, per-tensor scale 1)", "ok": True, "m": n, "n": n,
             "k": n, "flop": flop, **t, "tflops_median": flop / (t["median_ms"] * 1e-3) / 1e12,
             "tflops_best": flop / (t["min_ms"] * 1e-3) / 1e12, "rel_err_vs_fp64": err}
        sets = None  # frees the buffers (the closure above holds the name)
        torch.cuda.empty_cache()
        return r
    except Exception as e:
        return {"dtype": "fp8_e4m3", "ok": False, "error": f"{type(e).__name__}: {e}"}


def hbm_copy(nbytes, warmup, reps):
    n = nbytes // 2
    src = [torch.randn(n, device="cuda", dtype=torch.float32).to(torch.bfloat16) for _ in range(2)]
    dst = torch.empty(n, device="cuda", dtype=torch.bfloat16)
    k = [0]

    def run():
        dst.copy_(src[k[0] & 1])
        k[0] += 1

    t = time_events(run, warmup, reps)
    ok = bool(torch.equal(dst, src[(k[0] - 1) & 1]))
    moved = 2.0 * n * 2  # bytes read + bytes written
    r = {"what": "device-to-device copy (Tensor.copy_), bytes read + written", "buffer_bytes": n * 2,
         "bytes_moved": moved, **t, "TBps_median": moved / (t["median_ms"] * 1e-3) / 1e12,
         "TBps_best": moved / (t["min_ms"] * 1e-3) / 1e12, "copy_exact": ok}
    src = dst = None  # frees the buffers (the closure above holds the names)
    torch.cuda.empty_cache()
    return r


def hbm_read(nbytes, warmup, reps):
    n = nbytes // 4
    x = [torch.rand(n, device="cuda", dtype=torch.float32) for _ in range(2)]
    out = torch.empty((), device="cuda", dtype=torch.float32)
    k = [0]

    def run():
        torch.sum(x[k[0] & 1], dim=0, out=out)
        k[0] += 1

    t = time_events(run, warmup, reps)
    r = {"what": "read-only reduction (torch.sum over fp32), bytes read", "bytes_moved": float(n * 4), **t,
         "TBps_median": n * 4 / (t["median_ms"] * 1e-3) / 1e12, "TBps_best": n * 4 / (t["min_ms"] * 1e-3) / 1e12}
    x = None  # frees the buffer (the closure above holds the name)
    torch.cuda.empty_cache()
    return r


def launch_overhead(count=2000):
    x = torch.zeros(1, device="cuda")
    for _ in range(100):
        x.add_(1.0)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(count):
        x.add_(1.0)
    torch.cuda.synchronize()
    eager_us = (time.perf_counter() - t0) / count * 1e6
    # CUDA graph of `count` tiny kernels: the device-side gap between dependent kernels.
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            x.add_(1.0)
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        for _ in range(count):
            x.add_(1.0)
    g.replay()
    torch.cuda.synchronize()
    t = time_events(g.replay, 2, 5)
    return {"what": "tiny kernel (x.add_(1) on one element), back to back",
            "eager_us_per_kernel_host_timed": eager_us,
            "graph_us_per_kernel": t["median_ms"] * 1e3 / count, "kernels_per_graph": count}


def provenance(name, tag, props, free_b, total_b):
    """The result's header: device, software and nvidia-smi provenance, and the memory left to a framework."""
    return {
        "schema": "moesim roofline measurement v1",
        "gpu_tag": tag,
        "provenance": {
            "device_name": name,
            "sm_count": props.multi_processor_count,
            "total_memory_bytes_torch": props.total_memory,
            "l2_cache_bytes": getattr(props, "L2_cache_size", None),
            "compute_capability": f"{props.major}.{props.minor}",
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "nvidia_smi_gpu": sh("nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,"
                                 "pci.bus_id,power.limit,clocks.max.sm,clocks.max.mem --format=csv"),
            "nvidia_smi_clocks_before": sh("nvidia-smi -q -d CLOCK"),
            "nvidia_smi_power": sh("nvidia-smi -q -d POWER"),
            "nvidia_smi_topo": sh("nvidia-smi topo -m"),
        },
        "memory_after_context": {
            "what": "torch.cuda.mem_get_info() right after CUDA context creation (one tiny tensor allocated)",
            "free_bytes": free_b, "total_bytes": total_b, "used_by_context_bytes": total_b - free_b,
            "nvidia_smi_used": sh("nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader"),
        },
    }


def moe_shape_gemm(reps):
    """A smaller MoE-expert-like shape (tokens x hidden x ffn) to show the efficiency drop."""
    try:
        a = torch.randn(4096, 7168, device="cuda").to(torch.bfloat16)
        b = torch.randn(7168, 2048, device="cuda").to(torch.bfloat16)
        t = time_events(lambda: torch.matmul(a, b), 5, reps)
        flop = 2.0 * 4096 * 7168 * 2048
        r = {"dtype": "bf16", "m": 4096, "k": 7168, "n": 2048, **t,
             "tflops_median": flop / (t["median_ms"] * 1e-3) / 1e12}
        print(f"gemm bf16 4096x7168x2048: {r['tflops_median']:.1f} TFLOP/s", flush=True)
        a = b = None  # frees the inputs (the closure above holds the names)
        return r
    except Exception as e:
        return {"error": str(e)}


def measure_gemms(res, n, reps):
    g = {}
    for label, dt in [("bf16", torch.bfloat16), ("fp16", torch.float16)]:
        g[label] = gemm(dt, n, 5, reps, label)
        print(f"gemm {label} {n}^3: {g[label]['tflops_median']:.1f} TFLOP/s median "
              f"(best {g[label]['tflops_best']:.1f}), rel err {g[label]['rel_err_vs_fp64']:.2e}", flush=True)
    # Clocks read right after the bf16/fp16 GEMMs, while the SMs are still clocked up.
    res["provenance"]["nvidia_smi_clocks_after_gemm"] = sh(
        "nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv")
    g["fp8"] = gemm_fp8(n, 5, reps)
    if g["fp8"].get("ok"):
        print(f"gemm fp8 {n}^3: {g['fp8']['tflops_median']:.1f} TFLOP/s median "
              f"(best {g['fp8']['tflops_best']:.1f}), rel err {g['fp8']['rel_err_vs_fp64']:.2e}", flush=True)
    else:
        print(f"gemm fp8 failed: {g['fp8']['error']}", flush=True)
    g["bf16_4096x7168x2048"] = moe_shape_gemm(reps)
    g["tf32"] = gemm(torch.float32, n, 3, 10, "tf32")
    print(f"gemm tf32 {n}^3: {g['tf32']['tflops_median']:.1f} TFLOP/s", flush=True)
    g["fp32"] = gemm(torch.float32, n, 2, 5, "fp32")
    print(f"gemm fp32 (no tf32) {n}^3: {g['fp32']['tflops_median']:.1f} TFLOP/s", flush=True)
    res["gemm"] = g


def measure_memory_and_launch(res, reps):
    res["hbm_copy"] = hbm_copy(4 << 30, 5, reps)
    print(f"hbm copy 4 GiB: {res['hbm_copy']['TBps_median']:.3f} TB/s (read+write), exact={res['hbm_copy']['copy_exact']}",
          flush=True)
    try:
        res["hbm_read"] = hbm_read(4 << 30, 5, reps)
        print(f"hbm read 4 GiB: {res['hbm_read']['TBps_median']:.3f} TB/s", flush=True)
    except Exception as e:
        res["hbm_read"] = {"error": f"{type(e).__name__}: {e}"}
        print(f"hbm read failed: {e}", flush=True)
    try:
        res["launch"] = launch_overhead()
        print(f"launch: eager {res['launch']['eager_us_per_kernel_host_timed']:.2f} us/kernel, "
              f"graph {res['launch']['graph_us_per_kernel']:.2f} us/kernel", flush=True)
    except Exception as e:
        res["launch"] = {"error": f"{type(e).__name__}: {e}"}
        print(f"launch overhead failed: {e}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()

    torch.manual_seed(0)
    torch.cuda.init()
    props = torch.cuda.get_device_properties(0)
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    free_b, total_b = torch.cuda.mem_get_info()
    name = torch.cuda.get_device_name(0)
    tag = gpu_tag(name)
    print(f"device: {name} ({tag}), {props.multi_processor_count} SMs, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}", flush=True)
    res = provenance(name, tag, props, free_b, total_b)
    measure_gemms(res, args.size, args.reps)
    measure_memory_and_launch(res, args.reps)
    res["provenance"]["nvidia_smi_clocks_after"] = sh("nvidia-smi -q -d CLOCK")
    res["elapsed_s"] = time.time() - t_start

    path = os.path.join(args.out, f"roofline_{tag}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {path} in {res['elapsed_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
