#!/usr/bin/env python3
"""Times whole transformer layers (attention block + MoE block, EP1, bf16) on one GPU, built from
exactly the ops that calibration/bench_layer_ops.py times one by one (calibration/layer_ops.py),
for the validation of moesim's per-op composition (calibration/ACCURACY.md, "Whole layers";
tests/validation/test_layer_validation, which checks moesim against the committed output).

    python3 calibration/bench_transformer_layer.py --out DIR [--models a,b] [--smoke] [--commit SHA]

Families (shapes from models/<name>.json): deepseek-v3 (MLA, sigmoid group-limited routing, one
shared expert), qwen3-30b-a3b (GQA 32/4, per-head QK norm), mixtral-8x7b (GQA 32/8), olmoe-1b-7b
(MHA 16 heads, QK norm over the whole width). Points: prefill of 128 to 16,384 tokens (sequences
of up to 4,096 tokens, causal) and decode of 16 to 256 sequences against 2K-8K token caches.

The layer, in order (T tokens, H hidden):
  attention  rms_norm -> QKV projection (GQA: one GEMM; MLA: the fused q_a/kv_a GEMM, two latent
             rms_norms, q_b GEMM, and kv_b GEMM in prefill) -> QK norm where the model has it ->
             rotary on q and k -> core attention (SDPA in prefill, moesim's split-KV Triton decode
             kernel in decode; MLA decode is absorbed: q_nope x W_UK before, x W_UV after) ->
             output projection -> residual add
  MoE        rms_norm -> router GEMM [T, H] x [H, E] -> top-k (softmax, or DeepSeek's sigmoid
             group-limited) -> permute -> grouped SwiGLU experts (torch._grouped_mm) -> weighted
             unpermute -> shared expert (GEMM, SiLU*mul, GEMM) + residual adds
The expert ids are replayed from calibration/layer_routing/<model>.npy (real skewed routing; the
router still runs, its weights are used as the gates): token i takes row i mod rows. The KV-cache
append of decode is not run (a copy of one token per sequence).

Timing: graph (the whole layer captured in one CUDA graph, an L2 flush before each replay, CUDA
events around the replay) and eager (flush, synchronize, events around the Python forward);
median / p10 / p90 of --reps runs. Output: DIR/layers.jsonl, one line per (model, point), with
the exact per-expert token counts, and DIR/provenance-layers.json.
"""
import argparse
import datetime
import hashlib
import json
import pathlib
import platform
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import layer_ops as L  # noqa: E402
from bench_layer_ops import smi  # noqa: E402
from timing_stats import summary  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEV = "cuda"
BF16 = torch.bfloat16
MODELS = ["deepseek-v3", "qwen3-30b-a3b", "mixtral-8x7b", "olmoe-1b-7b"]
QK_NORM = {"qwen3-30b-a3b": "per_head", "olmoe-1b-7b": "full_width"}  # from the models' descriptions
PREFILL = [(128, 128), (512, 512), (2048, 2048), (8192, 4096), (16384, 4096)]  # (tokens, sequence length)
DECODE = [(16, 4096), (64, 2048), (128, 8192), (256, 4096)]  # (sequences, context)


def w_(shape, fan_in):
    return torch.empty(shape, device=DEV, dtype=BF16).normal_(0, fan_in ** -0.5)


def read_ids(name):
    import numpy as np
    ids = np.load(ROOT / "calibration" / "layer_routing" / f"{name}.npy", allow_pickle=False)
    return torch.from_numpy(ids.astype("int64")), hashlib.sha256((ROOT / "calibration" / "layer_routing" / f"{name}.npy").read_bytes()).hexdigest()


class Layer:
    def __init__(self, name, cfg, sms):
        self.name, self.cfg, self.sms = name, cfg, sms
        a, m, H = cfg["attention"], cfg["moe"], cfg["hidden_size"]
        self.H, self.a, self.m = H, a, m
        self.E, self.k = m["num_experts"], m["top_k"]
        F = m["expert_intermediate_size"]
        self.wgu, self.wd = w_((self.E, 2 * F, H), H), w_((self.E, H, F), F)
        self.rw = w_((self.E, H), H)
        self.bias = torch.zeros(self.E, device=DEV) if m.get("gate_bias") else None
        self.n1, self.n2 = torch.ones(H, device=DEV, dtype=BF16), torch.ones(H, device=DEV, dtype=BF16)
        if m.get("num_shared_experts", 0):
            Fs = m["shared_expert_intermediate_size"] * m["num_shared_experts"]
            self.sgu, self.sd = w_((2 * Fs, H), H), w_((H, Fs), Fs)
        else:
            self.sgu = None
        if a["type"] == "mla":
            h = a["num_heads"]
            self.wa = w_((a["q_lora_rank"] + a["kv_lora_rank"] + a["qk_rope_head_dim"], H), H)
            self.nqa = torch.ones(a["q_lora_rank"], device=DEV, dtype=BF16)
            self.nkva = torch.ones(a["kv_lora_rank"], device=DEV, dtype=BF16)
            self.wqb = w_((h * 192, a["q_lora_rank"]), a["q_lora_rank"])
            self.wkvb = w_((h * 256, a["kv_lora_rank"]), a["kv_lora_rank"])
            self.wuk, self.wuv = w_((h, 128, 512), 128), w_((h, 512, 128), 512)
            self.wo = w_((H, h * 128), h * 128)
        else:
            hq, hk, d = a["num_heads"], a.get("num_kv_heads", a["num_heads"]), a["head_dim"]
            self.hq, self.hk, self.d = hq, hk, d
            self.wqkv = w_(((hq + 2 * hk) * d, H), H)
            self.wo = w_((H, hq * d), hq * d)
            self.qn = torch.ones(d if QK_NORM.get(name) == "per_head" else hq * d, device=DEV, dtype=BF16)
            self.kn = torch.ones(d if QK_NORM.get(name) == "per_head" else hk * d, device=DEV, dtype=BF16)

    def setup(self, phase, T, seq, batch, ctx, ids):
        self.phase, self.T, self.seq, self.batch, self.ctx = phase, T, seq, batch, ctx
        self.x = w_((T, self.H), 1)
        rd = 64 if self.a["type"] == "mla" else self.a["head_dim"]
        ang = torch.rand((T, 1, rd), device=DEV) * 6.28
        self.cos, self.sin = ang.cos().to(BF16), ang.sin().to(BF16)
        self.ids = ids.to(DEV)
        self.decode_op = None
        if phase == "decode":
            if self.a["type"] == "mla":
                self.cache = w_((batch, 1, ctx, 576), 1)
                self.decode_op = L.DecodeAttention(batch, 1, self.a["num_heads"], ctx, 512, 64, 512, DEV, self.sms)
            else:
                self.kc, self.vc = w_((batch, self.hk, ctx, self.d), 1), w_((batch, self.hk, ctx, self.d), 1)
                self.decode_op = L.DecodeAttention(batch, self.hk, self.hq // self.hk, ctx, self.d, 0, self.d, DEV, self.sms)

    # ---------------------------------------------------------------------------------- attention
    def attention_gqa(self, h):
        T, hq, hk, d = self.T, self.hq, self.hk, self.d
        qkv = L.gemm(h, self.wqkv)
        q, k, v = qkv[:, :hq * d], qkv[:, hq * d:(hq + hk) * d], qkv[:, (hq + hk) * d:]
        mode = QK_NORM.get(self.name)
        if mode == "per_head":
            q, k = L.rms_norm(q.reshape(T * hq, d), self.qn), L.rms_norm(k.reshape(T * hk, d), self.kn)
        elif mode == "full_width":
            q, k = L.rms_norm(q, self.qn), L.rms_norm(k, self.kn)
        q = L.rope(q.reshape(T, hq, d), self.cos, self.sin)
        k = L.rope(k.reshape(T, hk, d), self.cos, self.sin)
        if self.phase == "prefill":
            b, s = T // self.seq, self.seq
            o = L.sdpa(q.view(b, s, hq, d).transpose(1, 2), k.view(b, s, hk, d).transpose(1, 2),
                       v.reshape(T, hk, d).view(b, s, hk, d).transpose(1, 2), self.backend)
            o = o.transpose(1, 2).reshape(T, hq * d)
        else:
            o = self.decode_op(q.view(T, hk, hq // hk, d), self.kc, self.vc).view(T, hq * d)
        return L.gemm(o, self.wo)

    def attention_mla(self, h):
        T, a = self.T, self.a
        nh, ql, kl = a["num_heads"], a["q_lora_rank"], a["kv_lora_rank"]
        lat = L.gemm(h, self.wa)
        q_a = L.rms_norm(lat[:, :ql], self.nqa)
        kv_a = L.rms_norm(lat[:, ql:ql + kl], self.nkva)
        k_pe = L.rope(lat[:, ql + kl:].reshape(T, 1, 64), self.cos, self.sin)
        q = L.gemm(q_a, self.wqb).view(T, nh, 192)
        q_pe = L.rope(q[..., 128:], self.cos, self.sin)
        if self.phase == "prefill":
            b, s = T // self.seq, self.seq
            kv = L.gemm(kv_a, self.wkvb).view(T, nh, 256)

            def hm(t):  # [T, h, d] -> [b, h, s, d] (a view)
                return t.unflatten(0, (b, s)).transpose(1, 2)
            o = L.mla_prefill(hm(q[..., :128]), hm(q_pe), hm(kv[..., :128]), hm(k_pe), hm(kv[..., 128:]), self.backend)
            o = o.transpose(1, 2).reshape(T, nh * 128)
        else:
            q_lat = L.mla_absorb_q(q[..., :128], self.wuk)
            o = L.mla_decode(self.decode_op, q_lat, q_pe, self.cache)
            o = L.mla_absorb_o(o, self.wuv)
        return L.gemm(o, self.wo)

    # ---------------------------------------------------------------------------------------- MoE
    def moe(self, h):
        logits = L.gemm(h, self.rw)
        if self.bias is not None:
            w, _ = L.topk_sigmoid_grouped(logits, self.bias, self.k, self.m["num_groups"], self.m["topk_groups"])
        else:
            w, _ = L.topk_softmax(logits, self.k)
        xp, order, offs = L.permute(h, self.ids, self.E)
        y = L.experts_bf16(xp, self.wgu, self.wd, offs)
        out = L.unpermute(y, order, w)
        if self.sgu is not None:
            L.add_(out, L.gemm(L.silu_mul(L.gemm(h, self.sgu)), self.sd))
        return out

    def forward(self):
        x = self.x
        h = L.rms_norm(x, self.n1)
        L.add_(x, self.attention_mla(h) if self.a["type"] == "mla" else self.attention_gqa(h))
        h = L.rms_norm(x, self.n2)
        L.add_(x, self.moe(h))
        return x


def pick_backend(layer):
    """The SDPA backend bench_layer_ops.py would pick: the fastest of those that run this layer."""
    best, best_us = None, None
    for be in L.SDPA_BACKENDS:
        layer.backend = be
        try:
            layer.forward()
            torch.cuda.synchronize()
            ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
            ev[0].record()
            for _ in range(3):
                layer.forward()
            ev[1].record()
            ev[1].synchronize()
            us = ev[0].elapsed_time(ev[1])
        except Exception:  # noqa: BLE001  (a backend that does not take the shape)
            continue
        if best_us is None or us < best_us:
            best, best_us = be, us
    layer.backend = best
    return best


def time_layer(layer, flush, reps):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        layer.forward()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        layer.forward()
    graph, eager = [], []
    for _ in range(reps):
        for mode, lst in (("graph", graph), ("eager", eager)):
            flush()
            torch.cuda.synchronize()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            g.replay() if mode == "graph" else layer.forward()
            b.record()
            b.synchronize()
            lst.append(a.elapsed_time(b) * 1e3)
    del g
    return summary(graph), summary(eager)


def diagnose(layer, flush, reps):
    """--diagnose: the parts of one layer point, for finding what a prediction misses (never used to
    fit moesim): the expert block alone with the layer's counts (graph, L2 flushed), the host's time
    to issue the whole forward (wall clock, GPU idle at the start), and the host time of each
    layer_ops call inside the forward (summed per function name)."""
    xp, order, offs = L.permute(L.rms_norm(layer.x, layer.n2), layer.ids, layer.E)
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        L.experts_bf16(xp, layer.wgu, layer.wd, offs)
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        L.experts_bf16(xp, layer.wgu, layer.wd, offs)
    ex = []
    for _ in range(reps):
        flush()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        ex.append(a.elapsed_time(b) * 1e3)
    del g
    host_total, per_fn = [], {}
    names = [n for n in dir(L) if not n.startswith("_") and callable(getattr(L, n)) and n not in ("DecodeAttention", "decode_reference")]
    orig = {n: getattr(L, n) for n in names}

    def wrap(n, f):
        def w(*a, **k):
            t0 = time.perf_counter()
            r = f(*a, **k)
            per_fn[n] = per_fn.get(n, 0.0) + (time.perf_counter() - t0) * 1e6
            return r
        return w
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        layer.forward()
        host_total.append((time.perf_counter() - t0) * 1e6)
    torch.cuda.synchronize()
    for n in names:
        setattr(L, n, wrap(n, orig[n]))
    try:
        for _ in range(reps):
            torch.cuda.synchronize()
            layer.forward()
        torch.cuda.synchronize()
    finally:
        for n in names:
            setattr(L, n, orig[n])
    return {"experts_graph": summary(ex), "host_forward": summary(host_total), "host_by_fn_us": {k: round(v / reps, 2) for k, v in per_fn.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--smoke", action="store_true", help="first prefill and decode point only")
    ap.add_argument("--deadline-s", type=float, default=540)
    ap.add_argument("--commit", default="")
    ap.add_argument("--diagnose", action="store_true", help="also time the parts of each layer (diagnose(); never used to fit)")
    args = ap.parse_args()
    t0 = time.monotonic()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(3)
    props = torch.cuda.get_device_properties(0)
    scratch = torch.empty(2 * props.L2_cache_size, dtype=torch.uint8, device=DEV)
    before = smi()
    prefill, decode = (PREFILL[:1], DECODE[:1]) if args.smoke else (PREFILL, DECODE)
    with open(out / "layers.jsonl", "w") as fh:
        for name in args.models.split(","):
            cfg = json.loads((ROOT / "models" / f"{name}.json").read_text())
            ids_all, sha = read_ids(name)
            layer = Layer(name, cfg, props.multi_processor_count)
            pts = [("prefill", T, s, T // s, 0) for T, s in prefill] + [("decode", b, 1, b, c) for b, c in decode]
            for phase, T, seq, batch, ctx in pts:
                if time.monotonic() - t0 > args.deadline_s:
                    print(json.dumps({"kind": "truncated", "model": name, "phase": phase, "tokens": T}), file=fh, flush=True)
                    break
                ids = ids_all[torch.arange(T) % ids_all.shape[0]]
                layer.setup(phase, T, seq, batch, ctx, ids)
                layer.backend = "FLASH_ATTENTION"
                backend = pick_backend(layer) if phase == "prefill" else None
                graph, eager = time_layer(layer, scratch.zero_, args.reps)
                counts = torch.bincount(ids.reshape(-1), minlength=layer.E).tolist()
                rec = {"kind": "layer", "model": name, "phase": phase, "tokens": T, "sequence_length": seq, "batch": batch,
                       "context": ctx, "sdpa_backend": backend,
                       "decode_kernel": None if layer.decode_op is None else {"splits": layer.decode_op.splits, "block_g": layer.decode_op.block_g},
                       "graph": graph, "eager": eager, "expert_counts": counts, "routing_sha256": sha}
                if args.diagnose:
                    rec["diagnose"] = diagnose(layer, scratch.zero_, args.reps)
                line = json.dumps(rec)
                print(line, file=fh, flush=True)
                brief = {k: rec[k] for k in ("model", "phase", "tokens", "context")}
                print(json.dumps(brief | {"graph_us": graph["median_us"], "eager_us": eager["median_us"]}), flush=True)
            del layer
            torch.cuda.empty_cache()
    prov = {"gpu_name": props.name, "sms": props.multi_processor_count, "torch": torch.__version__, "cuda": torch.version.cuda,
            "triton": L.triton.__version__ if L.triton else None, "python": platform.python_version(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "git_commit": args.commit,
            "command": "python3 calibration/bench_transformer_layer.py " + " ".join(sys.argv[1:]).replace(str(out), "OUT"),
            "nvidia_smi_before": before, "nvidia_smi_after": smi(), "seconds": round(time.monotonic() - t0, 1)}
    (out / "provenance-layers.json").write_text(json.dumps(prov, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
