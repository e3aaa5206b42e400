#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: a few small valid and invalid inputs per reader,
under corpus/<reader>/. Standard library only (the .npz and .npy files are built by hand).

    python3 tests/fuzz/make_corpus.py
"""
import io
import json
import math
import os
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))

from moesim.io import meta_bytes, npy_bytes as npy, npz_bytes as npz, trace_meta  # noqa: E402


def put(reader, name, data):
    d = os.path.join(HERE, "corpus", reader)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def trace(ids, weights=None, id_fmt="i", meta_over=None):
    layers, tokens, k = len(ids), len(ids[0]), len(ids[0][0])
    meta = trace_meta("m", 8, k, range(layers), "fuzz seed", meta_over)
    flat = [x for layer in ids for tok in layer for x in tok]
    arrays = {"topk_ids": npy("<i2" if id_fmt == "h" else "<i4", [layers, tokens, k],
                              struct.pack(f"<{len(flat)}{id_fmt}", *flat))}
    if weights is not None:
        wf = [x for layer in weights for tok in layer for x in tok]
        arrays["gate_weights"] = npy("<f4", [layers, tokens, k], struct.pack(f"<{len(wf)}f", *wf))
    m = meta_bytes(meta)
    arrays["meta"] = npy("|u1", [len(m)], m)
    return npz(arrays, date_time=FIXED_TIME)


FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def zip64(members):
    """A stored zip whose members carry zip64 extra fields (sizes in the extra field, 0xFFFFFFFF in
    the header): the layout the offset checks of the .npz reader must get right."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            with z.open(zipfile.ZipInfo(name + ".npy", date_time=FIXED_TIME), "w", force_zip64=True) as f:
                f.write(data)
    return buf.getvalue()


def huge_shape_seeds(good_meta_npy):
    """.npy headers that claim far more elements than the file holds (2^40 x 2^20 x 8): a reader
    must compare the claim with the file's size without overflow, before allocating."""
    huge = [1 << 40, 1 << 20, 8]
    ids = npy("<i4", huge, b"\0" * 64)
    return {"npz": npz({"topk_ids": ids, "meta": good_meta_npy}, date_time=FIXED_TIME),
            "npy": npy("<i2", huge, b"\0" * 64)}


def safetensors(tensors, cut=None):
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, values in tensors:
        fmt = {"I32": "i", "I64": "q", "F32": "f"}[dtype]
        raw = struct.pack(f"<{len(values)}{fmt}", *values)
        header[name] = {"dtype": dtype, "shape": [len(values)], "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    out = struct.pack("<Q", len(h)) + h + data
    return out[:cut] if cut else out


def main():
    ids = [[[0, 1], [2, 3], [4, 5]], [[1, 0], [3, 2], [7, 6]]]
    w = [[[0.7, 0.3], [0.6, 0.4], [0.5, 0.5]], [[0.9, 0.1], [0.8, 0.2], [0.55, 0.45]]]
    good = trace(ids, w)
    for reader in ("npz_trace", "trace_stats"):
        put(reader, "good.npz", good)
        put(reader, "good_int16_no_weights.npz", trace(ids, None, "h"))
        put(reader, "bad_id.npz", trace([[[0, 9], [2, 3], [4, 5]], ids[1]], w))
        put(reader, "bad_nan.npz", trace(ids, [[[math.nan, 0.3], [0.6, 0.4], [0.5, 0.5]], w[1]]))
        put(reader, "truncated.npz", good[: len(good) - 30])
        m = meta_bytes(trace_meta("m", 8, 2, range(2), "fuzz seed"))
        meta_npy = npy("|u1", [len(m)], m)
        flat = [x for layer in ids for tok in layer for x in tok]
        ids_npy = npy("<i4", [2, 3, 2], struct.pack(f"<{len(flat)}i", *flat))
        put(reader, "zip64_good.npz", zip64({"topk_ids": ids_npy, "meta": meta_npy}))
        put(reader, "huge_shape.npz", huge_shape_seeds(meta_npy)["npz"])
    counts = {"format": "moesim-counts", "model": "m", "source": "seed", "top_k": 2, "num_experts": 4,
              "layers": [0, 7], "counts": [[3, 2, 1, 4], [2, 2, 3, 3]],
              "pair_counts": {"0->7": [[1, 1, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [1, 0, 1, 2]]}}
    for reader in ("counts_json", "trace_stats"):
        put(reader, "moesim_counts.json", json.dumps(counts))
        put(reader, "sglang.json", json.dumps({"logical_count": [[0, 0, 0, 0], [5, 1, 1, 1]]}))
        put(reader, "bad_pair_key.json", json.dumps(dict(counts, pair_counts={"0-7": counts["pair_counts"]["0->7"]})))
        put(reader, "ragged.json", json.dumps(dict(counts, counts=[[1, 2, 3, 4], [1, 2, 3]])))
    put("sglang_counts", "two_d.json", json.dumps({"logical_count": [[0, 0, 0, 0], [5, 1, 1, 1]]}))
    put("sglang_counts", "per_step.json", json.dumps({"logical_count": [[[1, 1], [2, 0]], [[0, 2], [1, 1]]]}))
    put("sglang_counts", "negative.json", json.dumps({"logical_count": [[1, -1]]}))
    put("sglang_counts", "truncated.json", '{"logical_count": [[1, 2], [3')
    olmoe = {"model": "m", "domain": "d", "num_experts": 4, "top_k": 2, "layers": [0, 7], "tokens": 5,
             "expert_counts": [[3, 2, 1, 4], [2, 2, 3, 3]], "expert_counts_top1": [[2, 1, 0, 2], [1, 1, 1, 2]],
             "crosslayer_pair_counts": counts["pair_counts"], "source": "seed", "note": "n"}
    put("olmoe_counts", "good.json", json.dumps(olmoe))
    put("olmoe_counts", "bad_sum.json", json.dumps(dict(olmoe, tokens=6)))
    put("olmoe_counts", "bad_pair.json", json.dumps(dict(olmoe, crosslayer_pair_counts={"0->3": [[0] * 4] * 4})))
    switch = {"format": "3D_layer_expert_frequency", "num_experts": 4, "layers": [1, 3],
              "expert_usage_by_layer": {"1": {"0": 3, "2": 2}, "3": {"1": 4, "3": 1}},
              "layer_analysis": {"1": {"total_usage": 5}}}
    put("switch_counts", "good.json", json.dumps(switch))
    put("switch_counts", "bad_layer.json", json.dumps(dict(switch, expert_usage_by_layer={"2": {"0": 1}})))
    put("switch_counts", "bad_expert.json", json.dumps(dict(switch, expert_usage_by_layer={"1": {"9": 5}, "3": {"0": 5}})))
    rec = lambda t, l, e, p, key="token_idx": json.dumps(
        {"dataset": "d", "problem_id": 0, "layer": l, "experts": e, "gating_probs": p, key: t})
    lines = [rec(t, l, [t % 8, (t + 1) % 8], [0.6, 0.4]) for l in range(4) for t in range(3) if (t, l) != (2, 1)]
    put("mixtral_jsonl", "good_token_idx.jsonl", "\n".join(lines) + "\n")
    pos = [rec(t, l, [t, t + 2], [0.8, 0.2], "token_pos") for l in range(4) for t in range(2)]
    pos += [rec(0, l, [5, 6], [0.5, 0.5], "token_pos") for step in range(2) for l in range(4)]
    put("mixtral_jsonl", "good_token_pos.jsonl", "\n".join(pos) + "\n")
    put("mixtral_jsonl", "nan.jsonl", lines[0] + "\n" + lines[1].replace("0.4", "NaN") + "\n")
    put("mixtral_jsonl", "truncated.jsonl", "\n".join(lines)[:-20])
    meg = lambda step, layer, rows, block="decoder": json.dumps(
        {"step": step, "stage": "pre_dispatch", "block": block, "layer": layer, "rank": 0,
         "num_tokens": len(rows), "topk": 2, "top_indices": rows})
    put("megatron_jsonl", "good.jsonl", "\n".join([meg(0, 1, [[0, 1], [2, 3]]), meg(0, 3, [[4, 5], [6, 7]]),
                                                   meg(0, 1, [[1, 2]], "mtp"), meg(1, 1, [[9, 8]]), meg(1, 3, [[15, 0]])]) + "\n")
    put("megatron_jsonl", "bad_topk.jsonl", meg(0, 1, [[0, 1, 2]]) + "\n")
    put("megatron_jsonl", "missing_layer.jsonl", meg(0, 1, [[0, 1]]) + "\n" + meg(1, 3, [[0, 1]]) + "\n")
    routed = [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[15, 0], [3, 2]]]
    flat = [x for t in routed for l in t for x in l]
    put("vllm", "good.npy", npy("<i2", [3, 2, 2], struct.pack(f"<{len(flat)}h", *flat)))
    put("vllm", "good.json", json.dumps({"routed_experts": routed}))
    put("vllm", "bad_id.npy", npy("<i2", [1, 1, 2], struct.pack("<2h", 0, 16)))
    put("vllm", "truncated.npy", npy("<i2", [3, 2, 2], struct.pack(f"<{len(flat)}h", *flat))[:-5])
    put("vllm", "huge_shape.npy", huge_shape_seeds(b"")["npy"])
    put("vllm", "ragged.json", json.dumps({"routed_experts": [[[0, 1]], [[0, 1], [2, 3]]]}))
    put("trtllm", "good.safetensors", safetensors([("0_1", "I32", [1, 2, 3, 0, 0, 0, 0, 0]), ("1_1", "I32", [0] * 7 + [2]),
                                                   ("0_3", "I64", [1, 1, 0, 0, 0, 0, 0, 0])]))
    put("trtllm", "float.safetensors", safetensors([("0_1", "F32", [1.0, 1.0, 0, 0, 0, 0, 0, 0])]))
    put("trtllm", "truncated.safetensors", safetensors([("0_1", "I32", [1, 1, 0, 0, 0, 0, 0, 0])], cut=60))
    put("trtllm", "huge_offsets.safetensors", safetensors([("0_1", "I32", [1, 1])]).replace(
        b'"data_offsets": [0, 8]', b'"data_offsets": [0, 18446744073709551608]'))
    put("trtllm", "bad_key.safetensors", safetensors([("layer1", "I32", [1, 1, 0, 0, 0, 0, 0, 0])]))


if __name__ == "__main__":
    main()
