#!/usr/bin/env python3
"""Writes the fault-kind files of the bad-input corpus (Python standard library only): traces
whose headers or choices are inconsistent, a zip64 entry whose size wraps a 64-bit bounds check,
and the JSON files beside them. The outputs are committed; rerun to change them.

    python3 tests/bad_inputs/make_faults.py
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))

from moesim.io import meta_bytes, npy_bytes, npz_bytes, trace_meta  # noqa: E402

LAYERS, TOKENS, TOP_K, EXPERTS = 32, 16, 2, 8
DATE = (1980, 1, 1, 0, 0, 0)


def ids_payload(same_expert=False):
    """int32 [layers, tokens, top_k]: distinct experts per token (or the same one twice)."""
    out = []
    for l in range(LAYERS):
        for t in range(TOKENS):
            a = (l + t) % EXPERTS
            out += [a, a if same_expert else (a + 1) % EXPERTS]
    return struct.pack("<%di" % len(out), *out)


def weights_payload(negative_at=None):
    out = [0.6, 0.4] * (LAYERS * TOKENS)
    if negative_at is not None:
        out[negative_at] = -0.25
    return struct.pack("<%df" % len(out), *out)


def trace(name, meta_overrides=None, same_expert=False, negative_at=None, drop_meta_key=None, extra_member=None, tail=b""):
    meta_dict = trace_meta("mixtral-8x7b", EXPERTS, TOP_K, range(LAYERS), "test", meta_overrides)
    if drop_meta_key:
        del meta_dict[drop_meta_key]
    meta = meta_bytes(meta_dict)
    members = {"topk_ids": npy_bytes("<i4", (LAYERS, TOKENS, TOP_K), ids_payload(same_expert)),
               "gate_weights": npy_bytes("<f4", (LAYERS, TOKENS, TOP_K), weights_payload(negative_at)),
               "meta": npy_bytes("|u1", (len(meta),), meta)}
    if extra_member:
        members[extra_member] = npy_bytes("<i4", (2,), struct.pack("<2i", 1, 2))
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(npz_bytes(members, date_time=DATE) + tail)


def patched(name, patch):
    """A good trace whose zip bytes `patch(data)` alters in place."""
    meta = meta_bytes(trace_meta("mixtral-8x7b", EXPERTS, TOP_K, range(LAYERS), "test"))
    data = bytearray(npz_bytes({"topk_ids": npy_bytes("<i4", (LAYERS, TOKENS, TOP_K), ids_payload()),
                                "meta": npy_bytes("|u1", (len(meta),), meta)}, date_time=DATE))
    patch(data)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes(data))


def set_encrypted(data):
    cd = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, cd + 8, struct.unpack_from("<H", data, cd + 8)[0] | 1)


def rename_local(data):
    at = data.find(b"topk_ids.npy")  # the first occurrence is the local header's name
    data[at:at + 12] = b"topk_idz.npy"


def set_disk(data):
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<H", data, eocd + 4, 1)


def meta_variant(name, meta, shape=None):
    members = {"topk_ids": npy_bytes("<i4", (LAYERS, TOKENS, TOP_K), ids_payload()),
               "meta": npy_bytes("|u1", shape or (len(meta),), meta)}
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(npz_bytes(members, date_time=DATE))


def raw_npy(header, payload):
    """A .npy member with this header text (padded as numpy pads it) and payload."""
    text = header + " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + payload


def npy_header_variant(name, header, extra_payload=b""):
    meta = meta_bytes(trace_meta("mixtral-8x7b", EXPERTS, TOP_K, range(LAYERS), "test"))
    members = {"topk_ids": raw_npy(header, ids_payload() + extra_payload), "meta": npy_bytes("|u1", (len(meta),), meta)}
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(npz_bytes(members, date_time=DATE))


def zip64_wrap(name):
    """A stored zip whose topk_ids entry takes its sizes from a zip64 extra field: compressed size
    2^64 - 42, so data offset + size wraps past 2^64 to a small number."""
    meta = meta_bytes(trace_meta("mixtral-8x7b", EXPERTS, TOP_K, range(LAYERS), "test"))
    ids = npy_bytes("<i4", (LAYERS, TOKENS, TOP_K), ids_payload())
    data = bytearray(npz_bytes({"topk_ids": ids, "meta": npy_bytes("|u1", (len(meta),), meta)}, date_time=DATE))
    cd = data.find(b"PK\x01\x02")  # the first central directory entry (topk_ids.npy)
    name_len, extra_len = struct.unpack_from("<HH", data, cd + 28)
    extra = struct.pack("<HHQQ", 0x0001, 16, len(ids), 2**64 - 42)
    struct.pack_into("<II", data, cd + 20, 0xFFFFFFFF, 0xFFFFFFFF)
    struct.pack_into("<H", data, cd + 30, len(extra))
    at = cd + 46 + name_len
    data[at:at + extra_len] = extra
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, eocd + 12, struct.unpack_from("<I", data, eocd + 12)[0] + len(extra) - extra_len)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes(data))


def experiment(name, trace_file):
    doc = {"name": name.replace(".json", ""), "model": "mixtral-8x7b", "hardware": "H100-SXM",
           "cluster": {"nodes": 1, "devices_per_node": 8}, "parallel": {"expert_parallel": 8},
           "workload": {"phase": "prefill", "tokens_per_device": 2, "sequence_length": 2},
           "routing": {"source": "trace", "file": trace_file}}
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    trace("trace_duplicate_expert.npz", same_expert=True)
    trace("trace_negative_weight.npz", negative_at=2 * (TOKENS * 3 + 5) + 1)
    trace("trace_top_k_fraction.npz", {"top_k": 2.7})
    trace("trace_num_experts_1e30.npz", {"num_experts": 1e30})
    trace("trace_repeated_layer.npz", {"layers": [0, 1, 2, 2] + list(range(4, LAYERS))})
    trace("trace_meta_no_version.npz", drop_meta_key="version")
    trace("trace_meta_unknown_key.npz", {"num_expert": 8})
    trace("trace_extra_member.npz", extra_member="token_ids")
    trace("trace_trailing_bytes.npz", tail=b"\0" * 100)
    patched("trace_encrypted_member.npz", set_encrypted)
    patched("trace_local_name_differs.npz", rename_local)
    patched("trace_multi_disk.npz", set_disk)
    good_meta = meta_bytes(trace_meta("mixtral-8x7b", EXPERTS, TOP_K, range(LAYERS), "test"))
    meta_variant("trace_meta_2d.npz", good_meta, (1, len(good_meta)))
    meta_variant("trace_meta_nul_padded.npz", good_meta + b"\0\0\0\0")
    meta_variant("trace_meta_empty_model.npz", meta_bytes(trace_meta("", EXPERTS, TOP_K, range(LAYERS), "test")))
    shape = "(%d, %d, %d)" % (LAYERS, TOKENS, TOP_K)
    npy_header_variant("trace_npy_header_extra_key.npz", "{'descr': '<i4', 'fortran_order': False, 'shape': %s, 'evil': 1, }" % shape)
    npy_header_variant("trace_npy_header_unclosed.npz", "{'descr': '<i4', 'fortran_order': False, 'shape': %s, '" % shape)
    npy_header_variant("trace_npy_extra_payload.npz", "{'descr': '<i4', 'fortran_order': False, 'shape': %s, }" % shape, b"\0" * 8)
    zip64_wrap("trace_zip64_wrap.npz")
    for f in ("trace_duplicate_expert", "trace_negative_weight", "trace_zip64_wrap"):
        experiment("exp_%s.json" % f, f + ".npz")


if __name__ == "__main__":
    main()
