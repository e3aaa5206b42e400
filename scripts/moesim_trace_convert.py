#!/usr/bin/env python3
"""Converts routing data that only Python can read into moesim's routing formats.

  sglang     SGLang expert-distribution recorder dumps (.pt, torch.save):
               stat mode:      {"logical_count": int32 [steps, layers, experts] (or [layers,
                               experts])} -> moesim-counts JSON (summed over steps)
               per_token mode: {"records": [{"topk_ids_of_layer": int32 [layers, tokens, top_k],
                               -1 padded, ...}], "last_physical_to_logical_map": ...}, one file
                               per rank -> moesim .npz trace (ranks concatenated in the order given)
  hf-logits  Hugging Face router logits (model(..., output_router_logits=True).router_logits):
               a .npz with one (tokens, num_experts) array per MoE layer (numpy.savez(*logits)
               order, or names sorted by their trailing number), or a .npy [layers, tokens,
               num_experts]; -> scores (softmax or sigmoid) -> top-k -> renormalised when
               --norm-topk -> moesim .npz trace with gate weights

A .pt file is a pickle, and unpickling can run code: this script loads .pt files only with
torch.load(..., weights_only=True), which refuses anything but tensors and plain containers, and
never falls back to a full load. torch is imported only for .pt input. Outputs are written
atomically (temporary file + rename). Check a result with `moesim validate OUT` or
`moesim trace stats OUT`. See docs/traces.md.

Examples:
  python3 scripts/moesim_trace_convert.py sglang dump_rank0.pt dump_rank1.pt --model deepseek-v3 \\
      --experts 256 --out trace.npz
  python3 scripts/moesim_trace_convert.py sglang stat.pt --model deepseek-v3 --top-k 8 --out counts.json
  python3 scripts/moesim_trace_convert.py hf-logits logits.npz --model mixtral-8x7b --top-k 2 \\
      --score softmax --norm-topk --out trace.npz
"""
import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))

from moesim import io as moesim_io  # noqa: E402


class ConvertError(Exception):
    """A problem with the input: printed as one line, exit code 2."""


def write_trace(path, model, layers, ids, weights, num_experts, source):
    """ids: int [moe_layers, tokens, top_k]; weights: float32 of the same shape or None."""
    meta = moesim_io.trace_meta(model, int(num_experts), int(ids.shape[2]), [int(x) for x in layers], source)
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    weights = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
    moesim_io.write_atomically(path, lambda f: moesim_io.write_trace(f, ids, meta, weights))


def write_counts(path, model, layers, counts, top_k, source):
    moesim_io.write_counts(path, moesim_io.counts_doc(model, layers, counts, source, top_k))


def layer_ids(arg, n, what):
    if arg is None:
        return list(range(n))
    out = []
    for part in arg.split(","):
        a, _, b = part.partition("-")
        try:
            out += list(range(int(a), int(b or a) + 1))
        except ValueError:
            raise ConvertError(f"--layers: expected ids such as 0-31 or 3,5,7, got {arg!r}")
    if len(out) != n:
        raise ConvertError(f"--layers lists {len(out)} layers but {what} has {n}")
    return out


def load_pt(path):
    """Loads a .pt file without letting it run code."""
    try:
        import torch  # lazily: only .pt input needs it
    except ImportError:
        raise ConvertError(f"{path}: reading .pt files needs PyTorch (pip install torch, or apt-get install python3-torch)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the restricted unpickler refuses anything but tensors and containers
        why = str(e).split("WeightsUnpickler error:")[-1].strip().splitlines()[0] if str(e) else type(e).__name__
        raise ConvertError(f"{path}: torch.load(weights_only=True) refused or failed ({why}); this script never loads "
                           "a .pt file with code execution allowed")


def as_numpy(x, where):
    if hasattr(x, "numpy"):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception:
        raise ConvertError(f"{where}: expected a tensor")


def sglang(args):
    dumps = [load_pt(p) for p in args.inputs]
    first = dumps[0]
    if not isinstance(first, dict):
        raise ConvertError(f"{args.inputs[0]}: expected a dict (SGLang expert-distribution dump), got {type(first).__name__}")
    if "logical_count" in first:
        total = None
        for path, d in zip(args.inputs, dumps):
            c = as_numpy(d.get("logical_count"), f"{path}: logical_count").astype(np.float64)
            if c.ndim == 3:
                c = c.sum(axis=0)
            if c.ndim != 2:
                raise ConvertError(f"{path}: logical_count: expected [steps, layers, experts] or [layers, experts], got shape {c.shape}")
            if total is not None and c.shape != total.shape:
                raise ConvertError(f"{path}: logical_count shape {c.shape} differs from the first file's {total.shape}")
            total = c if total is None else total + c
        if not np.isfinite(total).all() or (total < 0).any():
            raise ConvertError(f"{args.inputs[0]}: logical_count holds negative or non-finite counts")
        if args.top_k and any(s % args.top_k for s in total.sum(axis=1) if float(s).is_integer()):
            raise ConvertError(f"--top-k {args.top_k}: a layer's counts are not a multiple of it")
        layers = layer_ids(args.layers, total.shape[0], "logical_count")
        write_counts(args.out, args.model, layers, total, args.top_k,
                     f"SGLang expert-distribution dump (stat mode): {', '.join(map(os.path.basename, args.inputs))}")
        return f"counts: {total.shape[0]} layers x {total.shape[1]} experts"
    if "records" not in first:
        raise ConvertError(f"{args.inputs[0]}: neither logical_count (stat mode) nor records (per_token mode)")
    chunks = []
    for path, d in zip(args.inputs, dumps):
        p2l = as_numpy(d["last_physical_to_logical_map"], path) if args.physical_to_logical else None
        for i, r in enumerate(d.get("records", [])):
            if not isinstance(r, dict) or "topk_ids_of_layer" not in r:
                continue  # per_pass records carry no per-token ids
            t = as_numpy(r["topk_ids_of_layer"], f"{path}: records[{i}]").astype(np.int64)
            if t.ndim != 3:
                raise ConvertError(f"{path}: records[{i}].topk_ids_of_layer: expected [layers, tokens, top_k], got {t.shape}")
            if p2l is not None:
                if p2l.ndim != 2 or p2l.shape[0] != t.shape[0] or t.max(initial=-1) >= p2l.shape[1]:
                    raise ConvertError(f"{path}: last_physical_to_logical_map {p2l.shape} does not cover the ids of records[{i}]")
                t = np.where(t >= 0, p2l[np.arange(t.shape[0])[:, None, None], np.maximum(t, 0)], -1)
            chunks.append(t)
    if not chunks:
        raise ConvertError(f"{args.inputs[0]}: no record has topk_ids_of_layer")
    if len({(c.shape[0], c.shape[2]) for c in chunks}) != 1:
        raise ConvertError("records differ in their layer count or top-k")
    ids = np.concatenate(chunks, axis=1)  # [layers, tokens, k]
    moe = [l for l in range(ids.shape[0]) if (ids[l] >= 0).any()]
    ids = ids[moe]
    filled = (ids >= 0).all(axis=2)  # [moe_layers, tokens]
    padding = ~(ids >= 0).any(axis=(0, 2))
    complete = filled.all(axis=0)
    partial = int((~complete & ~padding).sum())
    ids = ids[:, complete, :]
    if ids.shape[1] == 0:
        raise ConvertError("no token has experts in every MoE layer")
    experts = args.experts or int(ids.max()) + 1
    if ids.max() >= experts:
        raise ConvertError(f"expert id {int(ids.max())} out of range for --experts {experts}"
                           + ("" if args.physical_to_logical else " (physical ids? try --physical-to-logical)"))
    layers = layer_ids(args.layers, len(moe), "the dump's MoE layers") if args.layers else moe
    write_trace(args.out, args.model, layers, ids, None, experts,
                f"SGLang expert-distribution dump (per_token mode): {', '.join(map(os.path.basename, args.inputs))};"
                f" {int(padding.sum())} padding rows and {partial} tokens lacking a MoE layer dropped")
    return f"trace: {len(moe)} MoE layers x {ids.shape[1]} tokens x top-{ids.shape[2]} (dropped {partial} incomplete tokens)"


def hf_logits(args):
    path = args.inputs[0]
    if len(args.inputs) != 1:
        raise ConvertError("hf-logits takes one input file")
    if path.endswith(".pt"):
        d = load_pt(path)
        per_layer = [as_numpy(x, path) for x in (d if isinstance(d, (list, tuple)) else [d])]
    else:
        try:
            data = np.load(path, allow_pickle=False)  # never unpickle
        except Exception as e:
            raise ConvertError(f"{path}: not a .npy/.npz file: {e}")
        if isinstance(data, np.ndarray):
            if data.ndim != 3:
                raise ConvertError(f"{path}: expected [layers, tokens, num_experts], got shape {data.shape}")
            per_layer = list(data)
        else:
            key = lambda n: (int(m.group(1)) if (m := re.search(r"(\d+)$", n)) else -1, n)
            per_layer = [data[n] for n in sorted(data.files, key=key)]
    logits = []
    for i, x in enumerate(per_layer):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 2:
            raise ConvertError(f"{path}: layer {i}: expected (tokens, num_experts), got shape {x.shape}")
        x = x.reshape(-1, x.shape[-1])  # (batch, seq, E) -> (batch*seq, E)
        if not np.isfinite(x).all():
            raise ConvertError(f"{path}: layer {i}: logits hold NaN or infinity")
        if logits and x.shape != logits[0].shape:
            raise ConvertError(f"{path}: layer {i}: shape {x.shape} differs from layer 0's {logits[0].shape}")
        logits.append(x)
    if not logits:
        raise ConvertError(f"{path}: no logits")
    E, k = logits[0].shape[1], args.top_k
    if not 1 <= k <= E:
        raise ConvertError(f"--top-k {k} must be in [1, {E}]")
    ids, weights = [], []
    for x in logits:
        if args.score == "softmax":
            s = np.exp(x - x.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
        else:
            s = 1.0 / (1.0 + np.exp(-x))
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]
        w = np.take_along_axis(s, top, axis=1)
        if args.norm_topk:
            w = w / w.sum(axis=1, keepdims=True)
        ids.append(top)
        weights.append(w)
    layers = layer_ids(args.layers, len(logits), "the logits")
    write_trace(args.out, args.model, layers, np.stack(ids), np.stack(weights), E,
                f"Hugging Face router logits {os.path.basename(path)}: {args.score}, top-{k}"
                + (", renormalised" if args.norm_topk else ""))
    return f"trace: {len(logits)} layers x {logits[0].shape[0]} tokens x top-{k} of {E} experts"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="see docs/traces.md",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["sglang", "hf-logits"], help="input kind")
    p.add_argument("inputs", nargs="+", help="input file(s); several SGLang per-rank dumps are concatenated")
    p.add_argument("--out", required=True, help="output: .npz trace, or .json counts (SGLang stat mode)")
    p.add_argument("--model", required=True, help="model name written into the output")
    p.add_argument("--layers", help="model layer ids of the layers, e.g. 0-31 or 3,5,7")
    p.add_argument("--experts", type=int, help="number of routed experts (sglang per_token; default max id + 1)")
    p.add_argument("--top-k", type=int, default=0, help="experts per token (required for hf-logits)")
    p.add_argument("--score", choices=["softmax", "sigmoid"], default="softmax", help="hf-logits: router score function")
    p.add_argument("--norm-topk", action=argparse.BooleanOptionalAction, default=True,
                   help="hf-logits: renormalise the top-k weights to sum to 1 (Mixtral, Qwen-MoE: yes; Switch: no)")
    p.add_argument("--physical-to-logical", action="store_true",
                   help="sglang per_token: map physical expert ids through the dump's last_physical_to_logical_map")
    args = p.parse_args(argv)
    try:
        if args.kind == "hf-logits" and not args.top_k:
            raise ConvertError("hf-logits needs --top-k")
        what = sglang(args) if args.kind == "sglang" else hf_logits(args)
    except ConvertError as e:
        print(f"moesim_trace_convert: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
