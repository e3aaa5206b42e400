#!/usr/bin/env python3
"""Writes the per-token routing that calibration/moe_layer_bench.py replays (a GPU machine need not
hold the routing traces, so the routing is drawn here, on the CPU, and committed):

    calibration/layer_routing/deepseek-v3.npy    uint8 [ROWS, 8]  expert ids (256 experts)
    calibration/layer_routing/mixtral-8x7b.npy   uint8 [ROWS, 2]  expert ids (8 experts)
    calibration/layer_routing/olmoe-1b-7b.npy    uint8 [ROWS, 8]  expert ids (64 experts)
    calibration/layer_routing/qwen3-30b-a3b.npy  uint8 [ROWS, 8]  expert ids (128 experts)
    calibration/layer_routing/routing.json       where each came from, how it was drawn, sha256

ROWS = 32768 = 8 GPUs x 4096 tokens; the bench gives token i of rank r of a world of N GPUs with T
tokens each the row (r * T + i) mod ROWS, which is also how moesim replays a trace (README,
"Per-token traces"), so a run can be reproduced exactly.

- DeepSeek-V3: one MoE layer's `logical_count` row of SGLang's expert-distribution recorder
  (../shared/traces/deepseek-sglang-expert-counts/prefill_in1024.json). The layer is the one whose
  max/mean expert load is the median over the 58 MoE layers. Per token, group-limited as the model
  routes and as moesim's `counts` sampler draws: 4 of the 8 groups of 32 experts without
  replacement in proportion to the group's share of the counts, then 8 experts without
  replacement in proportion to their counts inside those groups (Gumbel top-k = sequential draws
  without replacement).
- Mixtral-8x7B: the per-token recording of vLLM in ../shared/traces/mixtral-8x7b-token-routing/
  (gsm8k_2_routing.jsonl + humaneval_2_routing.jsonl, token_idx records). The layer is the one
  whose max/mean expert load is the median over the 32 layers; each row is the (expert, expert)
  pair of a recorded token of that layer, drawn with replacement (bootstrap), so the real pair
  structure is kept.

- OLMoE-1B-7B: the median-skew layer of OLMoE's own top-8 counts over C4
  (../shared/traces/olmoe-routing-counts/olmoe_c4.json), 8 experts per token without replacement
  in proportion to the counts.
- Qwen3-30B-A3B: no recorded routing of it is public here, so DeepSeek-V3's median-skew layer
  (above) folded from 256 onto 128 experts, drawn like OLMoE's (said so in routing.json).

Seeded numpy Generator (PCG64, seed 20261125 by default): rerunning gives byte-identical files.
Usage: /usr/bin/python3 calibration/make_layer_routing.py [--traces ../shared/traces] [--out calibration/layer_routing]
"""
import argparse
import hashlib
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROWS = 32768


def median_layer(loads):
    """(layer id, max/mean) of the layer whose max/mean is the median (lower middle)."""
    mm = sorted((float(v.max() / v.mean()), int(l)) for l, v in loads.items() if v.sum() > 0)
    ratio, layer = mm[(len(mm) - 1) // 2]
    return layer, ratio


def shared_name(traces, path):
    """The source as the repository sees it: ../shared/traces/<relative path>."""
    return "../shared/traces/" + path.relative_to(traces).as_posix()


def gumbel_topk(logp, k, rng):
    """Per row, k distinct columns drawn without replacement in proportion to exp(logp)."""
    keys = logp + rng.gumbel(size=logp.shape)
    return np.argsort(-keys, axis=1, kind="stable")[:, :k]


def deepseek(traces, model, rng, rows):
    src = traces / "deepseek-sglang-expert-counts" / "prefill_in1024.json"
    counts = np.asarray(json.loads(src.read_text())["logical_count"], dtype=np.float64)
    moe = model["moe"]
    E, k, G, TG = moe["num_experts"], moe["top_k"], moe["num_groups"], moe["topk_groups"]
    first = model["first_dense_layers"]
    layer, ratio = median_layer({l: counts[l] for l in range(first, counts.shape[0])})
    w = counts[layer]
    w = np.maximum(w, 0) + w.sum() * 1e-12  # the floor moesim's sampler uses: every expert drawable
    p = w / w.sum()
    per_group = E // G
    gmass = p.reshape(G, per_group).sum(1)
    groups = gumbel_topk(np.broadcast_to(np.log(gmass), (rows, G)), TG, rng)  # [rows, TG]
    allowed = np.zeros((rows, G), dtype=bool)
    np.put_along_axis(allowed, groups, True, axis=1)
    logp = np.where(np.repeat(allowed, per_group, axis=1), np.log(p)[None, :], -np.inf)
    ids = gumbel_topk(logp, k, rng)
    meta = {"source": shared_name(traces, src),
            "source_note": "SGLang expert-distribution recorder logical_count, DeepSeek-V3 prefill with 1024-token inputs "
                           "(public repo GeneratedRandomly/SGLang-reproduce, attachment_ep_statistics/; see ../shared/traces/README.md)",
            "layer": layer, "source_layer_max_over_mean": round(ratio, 4),
            "method": f"per token: {TG} of {G} groups without replacement by group mass, then {k} experts without replacement "
                      f"by count inside them (Gumbel top-k); zero counts floored at 1e-12 of the total",
            "group_limited": True}
    return ids, meta


def mixtral(traces, model, rng, rows):
    folder = traces / "mixtral-8x7b-token-routing"
    files = [folder / "gsm8k_2_routing.jsonl", folder / "humaneval_2_routing.jsonl"]
    E, k = model["moe"]["num_experts"], model["moe"]["top_k"]
    by_layer = {}
    for f in files:
        with f.open() as fh:
            for ln in fh:
                r = json.loads(ln)
                key = (r["dataset"], r["problem_id"], r["token_idx"])
                by_layer.setdefault(r["layer"], {})[key] = r["experts"]
    loads = {l: np.bincount(np.asarray(list(t.values())).ravel(), minlength=E) for l, t in by_layer.items()}
    layer, ratio = median_layer(loads)
    pairs = np.asarray([by_layer[layer][key] for key in sorted(by_layer[layer])], dtype=np.int64)
    assert pairs.shape[1] == k and (pairs[:, 0] != pairs[:, 1]).all()
    ids = pairs[rng.integers(0, len(pairs), size=rows)]
    meta = {"source": [shared_name(traces, f) for f in files],
            "source_note": "vLLM routing recorder, Mixtral-8x7B-Instruct, decode tokens of 2 GSM8K + 2 HumanEval problems "
                           "(public repo Mario928/speculative-moe at 216e26e; see ../shared/traces/README.md)",
            "layer": layer, "source_layer_max_over_mean": round(ratio, 4), "source_tokens": int(len(pairs)),
            "method": "each row is the expert pair of a recorded token of that layer, drawn uniformly with replacement",
            "group_limited": False}
    return ids, meta


def by_counts(counts, k, rng, rows):
    """k distinct experts per token, without replacement in proportion to `counts` (Gumbel top-k)."""
    w = np.maximum(counts, 0) + counts.sum() * 1e-12
    return gumbel_topk(np.broadcast_to(np.log(w / w.sum()), (rows, len(w))), k, rng)


def olmoe(traces, model, rng, rows):
    src = traces / "olmoe-routing-counts" / "olmoe_c4.json"
    d = json.loads(src.read_text())
    loads = {int(l): np.asarray(c, dtype=np.float64) for l, c in zip(d["layers"], d["expert_counts"])}
    layer, ratio = median_layer(loads)
    ids = by_counts(loads[layer], model["moe"]["top_k"], rng, rows)
    meta = {"source": shared_name(traces, src),
            "source_note": "OLMoE-1B-7B-0924 top-8 assignment counts over C4 text for layers 0, 7 and 15 (allenai/OLMoE "
                           "scripts/routing_output, Apache-2.0; see ../shared/traces/README.md)",
            "layer": layer, "source_layer_max_over_mean": round(ratio, 4),
            "method": "per token: 8 experts without replacement in proportion to the layer's counts (Gumbel top-k)",
            "group_limited": False}
    return ids, meta


def qwen3(traces, model, rng, rows):
    """No recorded Qwen3 routing is public here: the skew of a real 256-expert layer (DeepSeek-V3's
    median layer, above) folded onto 128 experts (expert j takes the counts of 2j and 2j + 1)."""
    src = traces / "deepseek-sglang-expert-counts" / "prefill_in1024.json"
    counts = np.asarray(json.loads(src.read_text())["logical_count"], dtype=np.float64)
    ds = json.loads((ROOT / "models" / "deepseek-v3.json").read_text())
    layer, _ = median_layer({l: counts[l] for l in range(ds["first_dense_layers"], counts.shape[0])})
    folded = counts[layer].reshape(-1, 2).sum(1)
    assert len(folded) == model["moe"]["num_experts"]
    ids = by_counts(folded, model["moe"]["top_k"], rng, rows)
    meta = {"source": shared_name(traces, src),
            "source_note": "no recorded Qwen3-30B-A3B routing is available: DeepSeek-V3's median-skew layer of SGLang's "
                           "expert-distribution recorder, folded from 256 to 128 experts (j <- 2j, 2j+1)",
            "layer": layer, "source_layer_max_over_mean": round(float(folded.max() / folded.mean()), 4),
            "method": "per token: 8 experts without replacement in proportion to the folded counts (Gumbel top-k)",
            "group_limited": False}
    return ids, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", default=str(ROOT.parent / "shared" / "traces"))
    ap.add_argument("--out", default=str(ROOT / "calibration" / "layer_routing"))
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--rows", type=int, default=ROWS)
    args = ap.parse_args()
    traces, out = pathlib.Path(args.traces).resolve(), pathlib.Path(args.out)
    if not traces.is_dir():
        print(f"make_layer_routing.py: {traces} not found (needs ../shared/traces)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    index = {"format": "moesim-layer-routing-1", "rows": args.rows, "seed": args.seed,
             "token_rule": "token i of rank r in a world of N GPUs with T tokens each is row (r * T + i) mod rows",
             "generator": "calibration/make_layer_routing.py (numpy PCG64)", "models": {}}
    for name, fn in (("deepseek-v3", deepseek), ("mixtral-8x7b", mixtral), ("olmoe-1b-7b", olmoe), ("qwen3-30b-a3b", qwen3)):
        model = json.loads((ROOT / "models" / f"{name}.json").read_text())
        rng = np.random.default_rng([args.seed, len(name)])
        ids, meta = fn(traces, model, rng, args.rows)
        E, k = model["moe"]["num_experts"], model["moe"]["top_k"]
        assert ids.shape == (args.rows, k) and ids.min() >= 0 and ids.max() < E and E <= 256
        assert all(len(set(r)) == k for r in ids[:1000].tolist())
        path = out / f"{name}.npy"
        np.save(path, ids.astype(np.uint8), allow_pickle=False)
        load = np.bincount(ids.ravel(), minlength=E)
        meta.update({"file": f"calibration/layer_routing/{name}.npy", "dtype": "uint8", "shape": [args.rows, k],
                     "num_experts": E, "top_k": k, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                     "drawn_max_over_mean": round(float(load.max() / load.mean()), 4)})
        index["models"][name] = meta
        print(f"{path}: layer {meta['layer']}, max/mean source {meta['source_layer_max_over_mean']} drawn {meta['drawn_max_over_mean']}",
              file=sys.stderr)
    (out / "routing.json").write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
