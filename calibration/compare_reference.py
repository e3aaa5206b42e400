#!/usr/bin/env python3
"""Compares moesim's per-op costs with kernel times measured inside vLLM (NVIDIA aiconfigurator's
database, ../shared/reference/framework-kernels/, H100 and H200 rows), per op kind, and checks the
H200 -> H100 transfer rule (hw_profiles/H100-SXM.json "op_table_from") on the ratio of the two
GPUs' times for the same shape.

    python3 calibration/compare_reference.py [--moesim build/moesim] [--reference DIR] [--markdown OUT.md]

What is compared (moesim side: `moesim cost op`, `moesim cost experts`, `moesim cost layer`):
  gemm            one GEMM M x N x K, bf16 (F.linear) and fp8 (CUTLASS scaled-mm)
                  vs moesim's gemm / gemm_fp8 (torch.matmul, torch._scaled_mm row-wise)
  GQA core        FlashAttention-3 (vLLM 0.24) prefill / decode
                  vs attn_prefill (PyTorch SDPA) / attn_decode (moesim's Triton split-KV kernel)
  GQA projections the QKV and O GEMMs of the same rows, vs gemm
  MLA module      DeepSeek-V3's whole attention module (projections, norms, RoPE, core)
                  vs the attention ops of `moesim cost layer` less the input norm and residual
  bench_ops       moesim's own cuBLAS GEMM and elementwise timings on the H100 and the H200
                  (calibration/bench_ops.cu, hw_profiles/<gpu>.calibration.json): the transfer rule
                  against a measured H100 of the same method
  fused MoE       vLLM's FusedMoE from router logits (top-k, align/permute, two GEMMs + SwiGLU,
                  weighted reduce), balanced routing
                  vs top-k + permute + expert block (auto backend) + unpermute
Error = (moesim - vLLM) / vLLM: a different kernel stack (fused Triton / CUTLASS kernels, L2 not
flushed in the reference), so a gap is information about what vLLM fuses, not a fit target; nothing
here is used to fit moesim. Transfer check: for shapes measured on both GPUs,
(moesim H100 / moesim H200) / (vLLM H100 / vLLM H200) - 1.
"""
import argparse
import csv
import json
import math
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from timing_stats import quantile  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
GPUS = {"h100_sxm": "H100-SXM", "h200_sxm": "H200"}
MODELS = {"Qwen3-30B-A3B": "qwen3-30b-a3b", "Mixtral-8x7B": "mixtral-8x7b", "DeepSeek-V3": "deepseek-v3"}


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run(moesim, args, lines):
    out = subprocess.run([moesim] + args, input="\n".join(lines) + "\n", capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"compare_reference.py: {' '.join(args[:2])} failed: {out.stderr.strip()}")
    return [json.loads(ln) for ln in out.stdout.splitlines()]


class Ops:
    """Batched `moesim cost op` queries per hardware."""

    def __init__(self, moesim):
        self.moesim, self.pending, self.result = moesim, {}, {}

    def ask(self, hw, op, coords):
        key = (hw, op, tuple(coords))
        self.pending.setdefault(hw, set()).add(key)
        return key

    def resolve(self):
        for hw, keys in self.pending.items():
            keys = sorted(keys)
            res = run(self.moesim, ["cost", "op", "--hardware", hw, "--batch", "-"],
                      [f"{op} {','.join(str(c) for c in coords)}" for _, op, coords in keys])
            for k, r in zip(keys, res):
                self.result[k] = r.get("gpu_us")
        self.pending = {}

    def __getitem__(self, key):
        return self.result[key]


def model_dims(name):
    m = json.loads((ROOT / "models" / f"{MODELS[name]}.json").read_text())
    a = m["attention"]
    return m["hidden_size"], a["num_heads"], a.get("num_kv_heads", a["num_heads"]), a.get("head_dim", 128)


def gemm_cases(ref, ops):
    cases = []
    for r in rows(ref / "gemm_vllm.csv"):
        hw, op = GPUS[r["gpu"]], "gemm" if r["dtype"] == "bf16" else "gemm_fp8"
        key = ops.ask(hw, op, [int(r["M"]), int(r["N"]), int(r["K"])])
        cases.append({"kind": f"gemm {r['dtype']}", "gpu": r["gpu"], "shape": (r["M"], r["N"], r["K"], r["dtype"]),
                      "ref": float(r["latency_us"]), "pred": lambda k=key: ops[k]})
    return cases


def gqa_cases(ref, ops):
    cases = []
    for r in rows(ref / "attention_vllm.csv"):
        if not r["part"].startswith("B:") or r["model"] not in MODELS:
            continue
        hw, tp = GPUS[r["gpu"]], int(r["tp"])
        H, hq, hk, d = model_dims(r["model"])
        hq_d, hk_d = max(1, hq // tp), max(1, hk // tp)
        b = int(r["batch"])
        gop = "gemm" if r["weights"] == "bf16" else "gemm_fp8"
        if r["phase"] == "prefill":
            s = int(r["isl"])
            tokens = b * s
            core = ops.ask(hw, "attn_prefill", [s, b * hq_d, d])
        else:
            tokens = b
            core = ops.ask(hw, "attn_decode", [b, int(r["kv_len"]), hk_d, hq_d // hk_d])
        qkv = ops.ask(hw, gop, [tokens, (hq_d + 2 * hk_d) * d, H])
        o = ops.ask(hw, gop, [tokens, H, hq_d * d])
        shape = (r["model"], r["phase"], b, r["isl"], r["kv_len"], tp, r["weights"])
        cases.append({"kind": f"GQA core {r['phase']}", "gpu": r["gpu"], "shape": shape, "ref": float(r["measured_core_us"]),
                      "pred": lambda k=core: ops[k]})
        cases.append({"kind": "GQA QKV + O GEMMs", "gpu": r["gpu"], "shape": shape,
                      "ref": float(r["measured_qkv_us"]) + float(r["measured_o_us"]), "pred": lambda a=qkv, c=o: ops[a] + ops[c]})
    return cases


def mla_cases(ref, moesim):
    want = []
    for r in rows(ref / "attention_vllm.csv"):
        if not r["part"].startswith("A:"):
            continue
        b, tp = int(r["batch"]), int(r["tp"])
        q = {"model": "deepseek-v3", "phase": r["phase"], "tp": tp, "weight_dtype": "bf16" if r["weights"] == "bf16" else "fp8"}
        if r["phase"] == "prefill":
            q.update(tokens=b * int(r["isl"]), sequence_length=int(r["isl"]))
        else:
            q.update(tokens=b, context=max(1, int(r["kv_len"])))
        want.append((r, q))
    cases = []
    for hw in GPUS.values():
        sel = [(r, q) for r, q in want if GPUS[r["gpu"]] == hw]
        res = run(moesim, ["cost", "layer", "--hardware", hw, "--batch", "-"], [json.dumps(q) for _, q in sel])
        for (r, q), p in zip(sel, res):
            if "error" in p:
                continue
            attn = [o for o in p["ops"] if o["kind"] not in ("experts",) and o["name"] not in ("input norm", "residual add")
                    and (o["kind"] in ("norm", "projection", "rope", "attention_core"))]
            attn = [o for o in attn if o["name"] != "post-attention norm"]
            pred = sum(o["gpu_us"] for o in attn)
            shape = (r["phase"], r["batch"], r["isl"], r["kv_len"], r["tp"], r["weights"])
            cases.append({"kind": f"MLA module {r['phase']}", "gpu": r["gpu"], "shape": shape, "ref": float(r["latency_us"]),
                          "pred": lambda v=pred: v})
    return cases


def moe_cases(ref, moesim, ops):
    sel = [r for r in rows(ref / "moe_vllm.csv") if r["distribution"] == "balanced"]
    experts = {}
    for r in sel:
        hw = GPUS[r["gpu"]]
        E, k, ep, tp = int(r["num_experts"]), int(r["topk"]), int(r["moe_ep_size"]), int(r["moe_tp_size"])
        T, H, F = int(r["num_tokens"]), int(r["hidden_size"]), int(r["inter_size"]) // tp
        local = E // ep
        # Balanced: token t takes experts (t + j * ceil(E / k)) mod E, so every expert gets T k / E copies.
        per = [0] * E
        step = math.ceil(E / k)
        for t in range(min(T, 4 * E)):
            for j in range(k):
                per[(t + j * step) % E] += 1
        scale = T / min(T, 4 * E)
        counts = [round(c * scale) for c in per[:local]]
        dtype = "bf16" if r["moe_dtype"] == "bfloat16" else "fp8"
        experts.setdefault((hw, dtype), []).append((r, f"{H} {F} {dtype} {','.join(map(str, counts))}"))
        r["_ops"] = [ops.ask(hw, "topk_softmax", [T, E, k]), ops.ask(hw, "permute", [T, k, H]), ops.ask(hw, "unpermute", [T, k, H])]
    cases = []
    for (hw, dtype), items in experts.items():
        res = run(moesim, ["cost", "experts", "--hardware", hw, "--dtype", dtype, "--batch", "-"], [ln for _, ln in items])
        for (r, _), p in zip(items, res):
            if p.get("time_us") is None:
                continue
            shape = (r["model"], r["fw"], r["version"], r["kernel_source"], r["moe_dtype"], r["num_tokens"], r["moe_tp_size"], r["moe_ep_size"])
            cases.append({"kind": f"fused MoE {'bf16' if dtype == 'bf16' else r['moe_dtype']}", "gpu": r["gpu"], "shape": shape,
                          "ref": float(r["latency_us"]), "pred": lambda e=p["time_us"], o=r["_ops"]: e + sum(ops[x] for x in o)})
    return cases


def own_table_cases(ops):
    """The dense GEMMs and elementwise kernels calibration/bench_ops.cu timed on both the H100 and the
    H200 (hw_profiles/<gpu>.calibration.json; cuBLAS, per-tensor fp8, L2 flushed as in moesim's own
    tables): moesim's H100 (the H200 op table, transferred) against the H100's measurement."""
    cases = []
    for gpu, hw in GPUS.items():
        t = json.loads((ROOT / "hw_profiles" / f"{hw}.calibration.json").read_text())
        for r in t.get("dense_gemm", []):
            key = ops.ask(hw, "gemm" if r["dtype"] == "bf16" else "gemm_fp8", [r["M"], r["N"], r["K"]])
            cases.append({"kind": f"bench_ops GEMM {r['dtype']}", "gpu": gpu, "shape": (r["M"], r["N"], r["K"], r["dtype"]),
                          "ref": r["median_us"], "pred": lambda k=key: ops[k]})
        for r in t.get("elementwise", []):
            op = {"silu_mul": "silu_mul", "residual_add": "add"}[r["what"]]
            key = ops.ask(hw, op, [r["tokens"], r["width"]])
            cases.append({"kind": f"bench_ops {r['what']}", "gpu": gpu, "shape": (r["tokens"], r["width"], r["what"]),
                          "ref": r["median_us"], "pred": lambda k=key: ops[k]})
    return cases


def summarise(cases):
    groups = {}
    for c in cases:
        groups.setdefault((c["kind"], c["gpu"]), []).append((c["pred"]() - c["ref"]) / c["ref"])
    out = []
    for (kind, gpu), e in sorted(groups.items()):
        a = [abs(x) for x in e]
        out.append((kind, gpu, len(e), quantile(a, 0.5), quantile(a, 0.9), quantile(e, 0.5)))
    return out


def transfer(cases):
    by = {}
    for c in cases:
        by.setdefault((c["kind"], c["shape"]), {})[c["gpu"]] = c
    groups = {}
    for (kind, _), g in by.items():
        if "h100_sxm" in g and "h200_sxm" in g:
            m = g["h100_sxm"]["pred"]() / g["h200_sxm"]["pred"]()
            v = g["h100_sxm"]["ref"] / g["h200_sxm"]["ref"]
            groups.setdefault(kind, []).append((m / v - 1, v, m))
    out = []
    for kind, e in sorted(groups.items()):
        out.append((kind, len(e), quantile([abs(x[0]) for x in e], 0.5), quantile([x[0] for x in e], 0.5),
                    quantile([x[1] for x in e], 0.5), quantile([x[2] for x in e], 0.5)))
    return out


def markdown(summary, trans):
    lines = ["Reference: NVIDIA aiconfigurator's database of kernels timed inside vLLM (`../shared/reference/framework-kernels/`, "
             "CUDA graphs, L2 not flushed). moesim: its own measured ops (`hw_profiles/H200.ops.json`; the H100 through the transfer "
             "rule) and expert blocks. Error = (moesim - vLLM) / vLLM; bias = median signed error. Regenerate: "
             "`python3 calibration/compare_reference.py`.", "",
             "| op kind | GPU | rows | median abs. error | p90 | bias |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for kind, gpu, n, med, p90, bias in summary:
        lines.append(f"| {kind} | {gpu} | {n} | {100 * med:.1f}% | {100 * p90:.1f}% | {100 * bias:+.1f}% |")
    lines += ["", "Why the gaps remain (they are the kernel stack, not the modelling of one: moesim times PyTorch-level kernels, vLLM "
              "fuses): decode attention is moesim's Triton split-KV kernel plus a PyTorch merge of the splits (about 8 kernels) "
              "against vLLM's single fused decode kernel (the decode rows); the fused MoE rows are one fused top-k, one "
              "align/permute and two Triton or CUTLASS grouped GEMMs with the weighted reduction fused, against moesim's "
              "PyTorch top-k, argsort permute, torch._grouped_mm and index_select unpermute (about 15 kernels); "
              "the reference does not flush L2 between runs (small GEMMs and elementwise ops read from L2 there, from HBM in "
              "moesim's tables: the GEMM rows' bias); moesim's fp8 GEMM uses row-wise scales, vLLM's CUTLASS per-tensor or "
              "128-block scales. A framework with these fused kernels would be a measured op table of its own "
              "(calibration/bench_layer_ops.py takes one implementation per op).", "",
              "The H200 -> H100 transfer rule against vLLM's own ratio of the two GPUs' times for the same shapes "
              "(a check of the rule that does not depend on the kernel stack):", "",
              "| op kind | shapes | median abs. ratio error | bias | vLLM H100/H200 (median) | moesim H100/H200 (median) |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind, n, med, bias, v, m in trans:
        lines.append(f"| {kind} | {n} | {100 * med:.1f}% | {100 * bias:+.1f}% | {v:.3f} | {m:.3f} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moesim", default=str(ROOT / "build" / "moesim"))
    ap.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference" / "framework-kernels"))
    ap.add_argument("--markdown")
    args = ap.parse_args()
    ref = pathlib.Path(args.reference)
    if not (ref / "gemm_vllm.csv").exists():
        print(f"compare_reference.py: skipped: {ref} not found (needs ../shared/reference)", file=sys.stderr)
        return 0
    ops = Ops(args.moesim)
    cases = gemm_cases(ref, ops) + gqa_cases(ref, ops) + own_table_cases(ops)
    moe = moe_cases(ref, args.moesim, ops)
    ops.resolve()
    cases += mla_cases(ref, args.moesim) + moe
    summary, trans = summarise(cases), transfer(cases)
    text = markdown(summary, trans)
    print(text)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
