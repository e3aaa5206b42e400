"""Reading and writing the files moesim exchanges with Python: .npy arrays, moesim-trace .npz
routing traces and moesim-counts JSON (README.md, "Routing data formats").

The .npy and .npz functions that do not say otherwise need only the standard library: the
calibration scripts run where numpy may be absent, and the bad-input corpus writes headers numpy
itself would refuse to write (npy_bytes takes the shape as raw text for that).
"""
import ast
import io
import json
import os
import struct
import zipfile

NPY_MAGIC = b"\x93NUMPY"
# .npy integer dtypes -> struct codes (little-endian or byte-sized).
INT_CODES = {"|u1": "B", "<u1": "B", "|i1": "b", "<i2": "h", "<u2": "H", "<i4": "i", "<i8": "q"}
TRACE_FORMAT = "moesim-trace"
COUNTS_FORMAT = "moesim-counts"


class NpyError(ValueError):
    """A .npy file this module cannot read: str(e) is 'PATH: what'."""


def npy_bytes(descr, shape, payload):
    """A version 1.0 .npy file: header padded with spaces to a multiple of 64 bytes, then payload.
    shape is a tuple of ints, or the header's shape text as is (e.g. "(32, 99999999999999999999999, 2)")."""
    if not isinstance(shape, str):
        shape = "(%s,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(str(d) for d in shape)
    head = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    head += " " * ((64 - (10 + len(head) + 1) % 64) % 64) + "\n"
    return NPY_MAGIC + b"\x01\x00" + struct.pack("<H", len(head)) + head.encode("latin1") + payload


def write_npy(path, descr, shape, chunks):
    """Writes a .npy file from payload byte chunks (C order), without holding them joined."""
    with open(path, "wb") as fh:
        fh.write(npy_bytes(descr, shape, b""))
        for c in chunks:
            fh.write(c)


def read_npy(path):
    """(descr, shape, data bytes) of a .npy file (format 1.x or 2.x, C order)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:6] != NPY_MAGIC:
        raise NpyError(f"{path}: not a .npy file")
    if raw[6] == 1:
        hlen, start = struct.unpack("<H", raw[8:10])[0], 10
    else:
        hlen, start = struct.unpack("<I", raw[8:12])[0], 12
    header = ast.literal_eval(raw[start:start + hlen].decode("latin1"))
    if header.get("fortran_order"):
        raise NpyError(f"{path}: dtype {header.get('descr')} / Fortran order not supported")
    return header.get("descr"), tuple(header["shape"]), raw[start + hlen:]


def read_npy_ints(path):
    """(shape, flat list of ints) of a little-endian integer .npy in C order."""
    descr, shape, data = read_npy(path)
    if descr not in INT_CODES:
        raise NpyError(f"{path}: dtype {descr} / Fortran order not supported")
    n = 1
    for s in shape:
        n *= s
    code = INT_CODES[descr]
    size = struct.calcsize(code)
    if len(data) != n * size:
        raise NpyError(f"{path}: {len(data)} data bytes, expected {n * size}")
    return shape, list(struct.unpack(f"<{n}{code}", data))


def npz_bytes(members, date_time=None):
    """A stored (uncompressed) zip of {name: .npy bytes}, members named name + ".npy". With
    date_time (e.g. (1980, 1, 1, 0, 0, 0)) every member carries that time, so the bytes are
    reproducible; without it, the current time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=date_time) if date_time else name + ".npy", data)
    return buf.getvalue()


def trace_meta(model, num_experts, top_k, layers, source, overrides=None):
    """The JSON header (the `meta` member) of a moesim-trace .npz; overrides replace or add keys
    (the bad-input corpus writes inconsistent headers with them)."""
    meta = {"format": TRACE_FORMAT, "version": 1, "model": model, "num_experts": num_experts, "top_k": top_k,
            "layers": list(layers), "source": source}
    meta.update(overrides or {})
    return meta


def meta_bytes(meta):
    return json.dumps(meta).encode()


def meta_array(meta):
    """The `meta` member as numpy wants it: uint8 bytes of the JSON header (needs numpy)."""
    import numpy as np
    return np.frombuffer(meta_bytes(meta), dtype=np.uint8)


def write_trace(path_or_file, ids, meta, weights=None):
    """Writes a moesim-trace .npz with numpy.savez (uncompressed, as moesim maps it): topk_ids
    [moe_layers, tokens, top_k] as given (int16 or int32), gate_weights if given, and meta (a dict,
    see trace_meta). numpy.savez adds ".npz" to a path that lacks it."""
    import numpy as np
    arrays = {"topk_ids": ids, "meta": meta_array(meta)}
    if weights is not None:
        arrays["gate_weights"] = weights
    np.savez(path_or_file, **arrays)


def read_trace(path):
    """(meta dict, topk_ids, gate_weights or None) of a moesim-trace .npz (needs numpy; never
    unpickles)."""
    import numpy as np
    with np.load(path, allow_pickle=False) as z:
        if "meta" not in z.files or "topk_ids" not in z.files:
            raise ValueError(f"{path}: not a moesim trace (needs the members topk_ids and meta)")
        meta = json.loads(z["meta"].tobytes().decode())
        if not isinstance(meta, dict) or meta.get("format") != TRACE_FORMAT:
            raise ValueError(f"{path}: meta is not a {TRACE_FORMAT} header")
        weights = z["gate_weights"] if "gate_weights" in z.files else None
        return meta, z["topk_ids"], weights


def counts_doc(model, layers, counts, source, top_k=0):
    """A moesim-counts document: counts[i] are the per-expert counts of model layer layers[i];
    integral values are written as integers."""
    doc = {"format": COUNTS_FORMAT, "model": model, "source": source}
    if top_k:
        doc["top_k"] = int(top_k)
    rows = [list(row) for row in counts]
    doc["num_experts"] = len(rows[0]) if rows else 0
    doc["layers"] = [int(x) for x in layers]
    doc["counts"] = [[int(v) if float(v).is_integer() else float(v) for v in row] for row in rows]
    return doc


def write_counts(path, doc):
    """Writes a counts document (see counts_doc) as one line of JSON, atomically."""
    write_atomically(path, lambda f: f.write((json.dumps(doc) + "\n").encode()))


def read_counts(path):
    """A moesim-counts document, or an SGLang {"logical_count": ...} dump (summed over steps when
    3-D) as one with model "" and layers 0..L-1."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if isinstance(doc, dict) and doc.get("format") == COUNTS_FORMAT:
        return doc
    if isinstance(doc, dict) and "logical_count" in doc:
        c = doc["logical_count"]
        if c and c[0] and isinstance(c[0][0], list):
            c = [[sum(step[layer][e] for step in c) for e in range(len(c[0][layer]))] for layer in range(len(c[0]))]
        return counts_doc("", range(len(c)), c, f"SGLang expert-distribution dump {os.path.basename(path)}")
    raise ValueError(f"{path}: neither a {COUNTS_FORMAT} document nor an SGLang logical_count dump")


def write_atomically(path, write):
    """Calls write(binary file) on a temporary file beside path, then renames it to path."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
