#!/usr/bin/env python3
"""Prints the tables of docs/comm-validation.md: moesim's all-to-all against each public source,
one markdown table per source, from the built binary (every figure below is a `moesim comm a2a`
run, bottleneck network model unless said).

    python3 scripts/comm_validation_tables.py [--moesim build/moesim] [--shared ../shared]

Sources that live in ../shared (the H100 reference rows, the H20 profile of a public case) are
skipped with a message when absent. The tests in tests/unit/test_comm.cpp,
tests/unit/test_comm_kernels.cpp and tests/unit/test_nccl_model.cpp gate the same figures.
"""
import argparse
import csv
import json
import pathlib
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parents[1]


def a2a(moesim, *args):
    out = subprocess.run([moesim, "comm", "a2a", *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def err(pred, meas):
    return f"{100 * (pred / meas - 1):+.1f}%"


def deepep_h800_normal(m):
    print("\n**DeepEP normal kernels, H800 + CX7 (DeepEP README at 3b1045d), GB/s as DeepEP counts it, kernel time only**\n")
    print("| EP | domain | DeepEP dispatch | moesim | error | DeepEP combine | moesim | error | bottleneck |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for ep, d, c in ((8, 153, 158), (16, 43, 43), (32, 58, 57), (64, 51, 50)):
        g = ep // 8 if ep > 8 else 1
        groups = ("--groups", g, "--topk-groups", 4) if g > 4 else ()  # DeepEP's test limits tokens to 4 groups of EP / 8
        r = a2a(m, "--hardware", "H800", "--ep", ep, "--tokens", 4096, "--hidden", 7168, "--experts", 256, "--topk", 8, *groups,
                "--algorithm", "deepep-normal", "--routing", "deepep-bench", "--collective-latency", "0 us")
        print(f"| {ep} | {r['GBps_domain']} | {d} | {r['dispatch_GBps']:.1f} | {err(r['dispatch_GBps'], d)} | {c} | {r['combine_GBps']:.1f} | "
              f"{err(r['combine_GBps'], c)} | {r['dispatch']['bottleneck_link']} |")


def deepep_h800_ll(m):
    print("\n**DeepEP low-latency kernels, pure RDMA, H800 + CX7 (DeepEP README at 3b1045d): `deepep-low-latency-rdma`, kernel time (us)**\n")
    print("| EP | DeepEP dispatch | moesim | error | DeepEP combine | moesim | error |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for ep, d, c in ((8, 163, 318), (16, 173, 329), (32, 182, 350), (64, 186, 353), (128, 192, 369), (256, 194, 360)):
        e = 288 if 288 % ep == 0 else 256
        r = a2a(m, "--hardware", "H800", "--ep", ep, "--tokens", 128, "--hidden", 7168, "--experts", e, "--topk", 8,
                "--algorithm", "deepep-low-latency-rdma", "--routing", "deepep-bench", "--collective-latency", "0 us")
        print(f"| {ep} | {d} | {r['dispatch_us']:.0f} | {err(r['dispatch_us'], d)} | {c} | {r['combine_us']:.0f} | {err(r['combine_us'], c)} |")


def public_reports(m, shared):
    print("\n**Public reports (not used to set anything)**\n")
    print("| source | setup | measured | moesim | error | moesim's bottleneck |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = ["--ep", 16, "--tokens", 4096, "--hidden", 7168, "--experts", 256, "--topk", 8, "--groups", 2, "--topk-groups", 2,
            "--algorithm", "deepep-normal", "--routing", "deepep-bench", "--collective-latency", "0 us"]
    for dt, meas in (("fp8", 38.19), ("bf16", 40.89)):
        r = a2a(m, "--hardware", "H200", *base, "--dispatch-dtype", dt)
        print(f"| DeepEP #493 | EP16, 2 x 8 H200, CX7, dispatch {dt.upper()}, 24 SMs | {meas} GB/s (RDMA) | {r['dispatch_GBps']:.1f} | "
              f"{err(r['dispatch_GBps'], meas)} | {r['dispatch']['bottleneck_link']} |")
    r = a2a(m, "--hardware", "H200", *base)
    print(f"| DeepEP #493 | same, combine | 44.37 GB/s (RDMA) | {r['combine_GBps']:.1f} | {err(r['combine_GBps'], 44.37)} | "
          f"{r['combine']['bottleneck_link']} |")
    h20 = pathlib.Path(shared) / "cases" / "02-deepep-h20-intranode" / "H20.json"
    if not h20.exists():
        print(f"\n(H20 rows skipped: {h20} not found)")
        return
    r = a2a(m, "--hardware", h20, "--ep", 8, "--tokens", 4096, "--hidden", 7168, "--experts", 256, "--topk", 8, "--algorithm", "deepep-normal",
            "--routing", "deepep-bench", "--collective-latency", "0 us", "--dispatch-dtype", "bf16")
    best = max(r["dispatch_GBps"], r["combine_GBps"])
    print(f"| DeepEP #16 | EP8, one node of 8 H20, normal kernels, best of the tuning rows | 337.35 GB/s (NVLink) | {best:.1f} | "
          f"{err(best, 337.35)} | "
          f"{r['dispatch']['bottleneck_link']} |")
    r = a2a(m, "--hardware", h20, "--ep", 8, "--tokens", 128, "--hidden", 7168, "--experts", 288, "--topk", 8,
            "--algorithm", "deepep-low-latency", "--routing", "deepep-bench")
    t = r["dispatch_us"] + r["combine_us"]
    print(f"| DeepEP #303 | EP8, one node of 8 H20, low-latency kernels over NVLink, 128 tokens, dispatch + combine | 222.3 us | {t:.0f} | "
          f"{err(t, 222.3)} | "
          f"{r['dispatch']['bottleneck_link']} |")
    for sms, meas in ((24, 43.0),):
        rr = a2a(m, "--hardware", h20, *base, "--dispatch-dtype", "bf16", "--sms", sms)
        print(f"| DeepEP #137 | EP16, 2 x 8 H20, 400 Gb/s RoCE, 24 SMs, dispatch BF16 | 43-44.7 GB/s (RDMA) | {rr['dispatch_GBps']:.1f} | "
              f"{err(rr['dispatch_GBps'], 43.85)} (vs the middle) | {rr['dispatch']['bottleneck_link']} |")


def reference_rows(m, shared):
    path = pathlib.Path(shared) / "reference" / "framework-kernels" / "comm_h100.csv"
    if not path.exists():
        print(f"\n(reference rows skipped: {path} not found)")
        return
    rows = {}
    for r in csv.DictReader(open(path)):
        if not r["table"].startswith("wideep_deepep"):
            continue
        mode = "deepep-low-latency" if r["table"].startswith("wideep_deepep_ll") else "deepep-normal"
        key = (mode, int(float(r["hidden"])), int(float(r["tokens"])), int(float(r["experts"])), int(float(r["topk"])))
        rows.setdefault(key, {})[r["op"]] = float(r["latency_us"])
    keys = [k for k in sorted(rows) if k[2] > 1]

    def run(k):
        mode, h, t, e, topk = k
        return k, a2a(m, "--hardware", "H100-SXM", "--ep", 8, "--tokens", t, "--hidden", h, "--experts", e, "--topk", topk, "--algorithm", mode,
                      "--routing", "deepep-bench")
    errs = {}
    with ThreadPoolExecutor(2) as ex:
        for k, r in ex.map(run, keys):
            for op in ("dispatch", "combine"):
                if op in rows[k]:
                    errs.setdefault((k[0], op, "small" if k[2] <= 64 else "large"), []).append(r[op + "_us"] / rows[k][op] - 1)
    print("\n**DeepEP on one node of 8 H100 (reference rows: SGLang 0.5.12's DeepEP, measured by NVIDIA aiconfigurator), kernel time; "
          "one-token rows left out (they set the floors)**\n")
    print("| kernel | phase | tokens per GPU | rows | median abs. error | p90 abs. error | median signed error |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (mode, op, size), e in sorted(errs.items()):
        a = sorted(abs(x) for x in e)
        print(f"| {mode} | {op} | {'2-64' if size == 'small' else '96+'} | {len(e)} | {100 * statistics.median(a):.1f}% | "
              f"{100 * a[int(0.9 * (len(a) - 1))]:.1f}% | {100 * statistics.median(e):+.1f}% |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moesim", default=str(ROOT / "build" / "moesim"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = ap.parse_args()
    deepep_h800_normal(args.moesim)
    deepep_h800_ll(args.moesim)
    public_reports(args.moesim, args.shared)
    reference_rows(args.moesim, args.shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
