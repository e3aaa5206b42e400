#!/usr/bin/env python3
"""Writes the routing-trace (.npz) files of the bad-input corpus, next to this script.

The generated files are committed, so the corpus runs without numpy; rerun this script (it
needs numpy) only to change them. Every trace is small: 32 layers x 16 tokens of Mixtral
8x7B (8 experts, top-2) unless a case needs otherwise.

    python3 tests/bad_inputs/make_traces.py
"""
import io
import os
import sys
import warnings
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))

from moesim.io import meta_array, npy_bytes, npz_bytes, trace_meta  # noqa: E402

LAYERS, TOKENS, TOP_K, EXPERTS = 32, 16, 2, 8


def header(**overrides):
    return trace_meta("mixtral-8x7b", EXPERTS, TOP_K, range(LAYERS), "test", overrides)


def routing(layers=LAYERS, tokens=TOKENS, top_k=TOP_K, experts=EXPERTS, seed=0):
    """Distinct expert ids per token and softmax-normalised weights, deterministic."""
    rng = np.random.default_rng(seed)
    ids = np.empty((layers, tokens, top_k), dtype=np.int32)
    for l in range(layers):
        for t in range(tokens):
            ids[l, t] = rng.choice(experts, size=top_k, replace=False)
    logits = rng.standard_normal((layers, tokens, top_k)).astype(np.float32)
    w = np.exp(logits)
    w = (w / w.sum(axis=-1, keepdims=True)).astype(np.float32)
    return ids, w


def save(name, compressed=False, **arrays):
    path = os.path.join(HERE, name)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def save_raw(name, members):
    """A stored (uncompressed) zip of hand-made .npy members (for headers numpy itself would refuse
    to write); a fixed timestamp keeps the committed bytes reproducible."""
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(npz_bytes(members, date_time=(1980, 1, 1, 0, 0, 0)))


def main():
    ids, w = routing()
    meta = meta_array(header())

    # The control: a valid trace that good_trace_experiment.json replays.
    good = save("good_mixtral.npz", topk_ids=ids, gate_weights=w, meta=meta)

    # Truncated: the archive cut in the middle of the topk_ids member (no zip end record).
    data = open(good, "rb").read()
    with open(os.path.join(HERE, "trace_truncated.npz"), "wb") as f:
        f.write(data[: len(data) // 2])

    # An expert id equal to num_experts, deep inside the array (layer 5, token 3, slot 1).
    bad = ids.copy()
    bad[5, 3, 1] = EXPERTS
    save("trace_expert_id_out_of_range.npz", topk_ids=bad, gate_weights=w, meta=meta)

    # Internally consistent top-3 trace, replayed against top-2 Mixtral.
    ids3, w3 = routing(top_k=3, seed=1)
    save("trace_topk_mismatch.npz", topk_ids=ids3, gate_weights=w3, meta=meta_array(header(top_k=3)))

    # Internally consistent 16-layer trace, replayed against 32-layer Mixtral.
    ids16, w16 = routing(layers=16, seed=2)
    save("trace_wrong_layer_count.npz", topk_ids=ids16, gate_weights=w16, meta=meta_array(header(layers=list(range(16)))))

    # The header lists 32 layers but topk_ids holds 31.
    save("trace_header_layer_mismatch.npz", topk_ids=ids[:31], gate_weights=w[:31], meta=meta)

    # A NaN gate weight (layer 7, token 9, slot 0).
    nan_w = w.copy()
    nan_w[7, 9, 0] = np.nan
    save("trace_nan_weight.npz", topk_ids=ids, gate_weights=nan_w, meta=meta)

    # Written with savez_compressed (deflated members), which moesim does not memory-map.
    save("trace_compressed.npz", compressed=True, topk_ids=ids, gate_weights=w, meta=meta)

    # No meta array.
    save("trace_no_meta.npz", topk_ids=ids, gate_weights=w)

    # meta that is not JSON.
    save("trace_bad_meta_json.npz", topk_ids=ids, meta=np.frombuffer(b'{"format": "moesim-trace", ', dtype=np.uint8))

    # int64 expert ids (only int16 and int32 are read).
    save("trace_int64_ids.npz", topk_ids=ids.astype(np.int64), meta=meta)

    # A topk_ids header whose shape (32, 2**58, 2) multiplies to 2**64 elements: the element
    # count overflows int64 and must not pass the size check; the data holds 16 tokens only.
    members = {"topk_ids": npy_bytes("<i4", "(32, %d, 2)" % (2**58), ids.tobytes()), "meta": npy_bytes("|u1", "(%d,)" % meta.size, meta.tobytes())}
    save_raw("trace_shape_overflow.npz", members)

    # A topk_ids dimension with more digits than an int64 holds.
    members = {"topk_ids": npy_bytes("<i4", "(32, 99999999999999999999999, 2)", ids.tobytes()),
               "meta": npy_bytes("|u1", "(%d,)" % meta.size, meta.tobytes())}
    save_raw("trace_shape_too_many_digits.npz", members)

    # An empty file named .npz.
    open(os.path.join(HERE, "trace_empty.npz"), "wb").close()
    header_faults(ids, meta)


def header_faults(ids, meta):
    """Archives and headers that parse but must not be trusted."""
    ids_npy = npy_bytes("<i4", "(32, 16, 2)", ids.tobytes())
    meta_npy = npy_bytes("|u1", "(%d,)" % meta.size, meta.tobytes())
    # topk_ids twice in one archive (zip allows it; which one a reader takes is a guess).
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        warnings.simplefilter("ignore")  # "Duplicate name"
        for name, data in (("topk_ids", ids_npy), ("meta", meta_npy), ("topk_ids", npy_bytes("<i4", "(32, 16, 2)", ids[:, ::-1].tobytes()))):
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), data)
    with open(os.path.join(HERE, "trace_member_twice.npz"), "wb") as f:
        f.write(buf.getvalue())
    # A header of a later format version.
    v2 = meta_array(header(version=2))
    save_raw("trace_meta_version_2.npz", {"topk_ids": ids_npy, "meta": npy_bytes("|u1", "(%d,)" % v2.size, v2.tobytes())})
    # A header whose model name is not UTF-8.
    bad = bytes(meta.tobytes()).replace(b'"mixtral-8x7b"', b'"mixtral-\xff\xfe"')
    save_raw("trace_meta_not_utf8.npz", {"topk_ids": ids_npy, "meta": npy_bytes("|u1", "(%d,)" % len(bad), bad)})


if __name__ == "__main__":
    main()
