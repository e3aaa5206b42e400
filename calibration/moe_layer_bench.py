#!/usr/bin/env python3
"""Times one whole MoE layer the way an expert-parallel PyTorch framework runs it (eager, NCCL
all-to-all, torch._grouped_mm experts), per stage, on every rank, for the shapes of DeepSeek-V3
and Mixtral-8x7B (from models/*.json) and 128 / 1024 / 4096 tokens per GPU.

    torchrun --standalone --nproc-per-node N calibration/moe_layer_bench.py --out DIR
    python3 calibration/moe_layer_bench.py --out DIR      # world size 1 without torch.distributed

Routing is replayed, not computed: calibration/layer_routing/<model>.npy (written on the CPU side by
calibration/make_layer_routing.py from real recorded routing) holds per-token top-k expert ids;
token i of rank r is row (r * T + i) mod rows. Experts are placed contiguously, E / N per rank.

One layer, per rank (tokens x [T, H] bf16, ids [T, k], gate weights [T, k]); two dispatch modes:

  per-expert  (Megatron-style AlltoAll dispatcher: one copy per (token, expert))
    route           count the ids (scatter_add) -> tokens per (destination rank, expert)
    counts          all_to_all_single of the [N, E/N] counts, copied to the host (split sizes)
    permute         argsort of the flat ids, gather of the token rows
    dispatch        all_to_all_single of the rows (bf16, uneven splits)
    expert_permute  arrived rows are (source, expert)-major: re-sort them expert-major
    experts         torch._grouped_mm gate/up, silu(g) * u, torch._grouped_mm down (int32 offsets,
                    all local experts passed, empty ones included)
    expert_unpermute  back to (source, expert) order
    combine         all_to_all_single back (reversed splits)
    unpermute       scatter to (token, k) order, weighted sum over the top-k
  per-device  (DeepEP semantics, with NCCL: one copy per (token, destination rank))
    route           which ranks each token goes to; per-rank and per-expert counts
    counts          all_to_all_single of [N, E/N + 1] counts, copied to the host
    permute         (rank, token) pairs rank-major, gather of the rows, per-pair metadata
                    (the token's k expert ids local to that rank or -1, and its k gate weights)
    dispatch        all_to_all_single of the rows (bf16) and of the metadata (int32 [P, 2k])
    expert_permute  expand the arrived rows to (row, local expert) assignments, expert-major
    experts         as above
    expert_unpermute  weight by the gate and sum per arrived row (index_add_)
    combine         all_to_all_single of one row per (token, rank) back
    unpermute       sum the returned rows per token (index_add_)

Timing (CUDA events on the current stream; NCCL collectives are issued synchronously, so the
stream waits for them): per rep, a 2 x L2 memset (evicts L2, not timed), torch.cuda.synchronize,
dist.barrier, a one-element all_reduce (aligns the ranks' streams), then
  fused: the whole layer with an event at every stage boundary (the host syncs of the counts are
         inside it, as in a framework);
  isolated: dispatch, experts and combine again, each alone after its own memset + barrier +
         aligning all_reduce, on the fused rep's buffers (clean per-stage times: in the fused
         layer a rank's combine also waits for the slowest rank's experts).
Also the router alone (GEMM [T, H] x [H, E] + sigmoid/group-limited top-k or softmax top-k).
warm-up reps first, then --reps timed reps; per stage the median / p10 / p90 per rank, and of the
per-rep maximum over ranks. A small self-test checks both modes against a float64 reference first.

Output: DIR/moe_layer-<model>-t<T>-w<N>.json per (model, tokens, world size) with the exact per-rank
per-expert token counts, the routing file's sha256 and provenance (scripts/compare_moe_layer.py
rebuilds the run in moesim from it). NVLink multicast stays off (NCCL_NVLS_ENABLE=0,
TORCH_SYMM_MEM_DISABLE_MULTICAST=1, NVSHMEM_DISABLE_NVLS=1 are set before init).
"""
import argparse
import datetime
import hashlib
import json
import os
import pathlib
import platform
import socket
import subprocess
import sys
import time

MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
os.environ.update(MULTICAST_OFF)  # before torch / NCCL initialise

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as Fn  # noqa: E402

from timing_stats import summary  # noqa: E402  (calibration/, the script's folder, is on sys.path)

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from moesim.io import read_npy as read_npy_bytes  # noqa: E402
FORMAT = "moesim-moe-layer-1"
MODELS = ["mixtral-8x7b", "deepseek-v3"]
FUSED = ["route", "counts", "permute", "dispatch", "expert_permute", "experts", "expert_unpermute", "combine", "unpermute", "layer"]
ISOLATED = ["dispatch_isolated", "experts_isolated", "combine_isolated"]
MODES = ["per-device", "per-expert"]
BF16 = torch.bfloat16


def log(msg):
    print(f"[moe_layer_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_npy(path):
    """A little-endian integer .npy (format 1.x/2.x, C order) as a CPU int64 tensor, without numpy."""
    descr, shape, raw = read_npy_bytes(path)
    dtypes = {"|u1": torch.uint8, "<u1": torch.uint8, "|i1": torch.int8, "<i2": torch.int16, "<i4": torch.int32, "<i8": torch.int64}
    if descr not in dtypes:
        raise ValueError(f"{path}: dtype {descr} / fortran order not supported")
    data = bytearray(raw)
    t = torch.frombuffer(data, dtype=dtypes[descr]) if data else torch.empty(0, dtype=dtypes[descr])
    return t.reshape(shape).to(torch.int64)


class Comm:
    """torch.distributed (NCCL) when launched by torchrun, else world size 1 with local copies."""

    def __init__(self):
        self.distributed = "WORLD_SIZE" in os.environ
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        torch.cuda.set_device(self.local_rank)
        self.device = torch.device("cuda", self.local_rank)
        if self.distributed:
            try:
                dist.init_process_group("nccl", device_id=self.device)
            except TypeError:  # older torch without device_id
                dist.init_process_group("nccl")
        self.tiny = torch.zeros(1, device=self.device)
        self.impl = "nccl all_to_all_single" if self.distributed else "local copy (no torch.distributed, world size 1)"

    def a2a(self, out, inp, out_splits=None, in_splits=None):
        if self.distributed:
            dist.all_to_all_single(out, inp, output_split_sizes=out_splits, input_split_sizes=in_splits)
        else:
            out.copy_(inp)

    def sync_all(self):
        torch.cuda.synchronize()
        if self.distributed:
            dist.barrier()
            torch.cuda.synchronize()

    def align(self):
        """Lines the ranks' streams up (a one-element all_reduce), then keeps the GPU busy ~25 us
        (torch.cuda._sleep) so that the host has queued the timed work before the start event runs."""
        if self.distributed:
            dist.all_reduce(self.tiny)
        if hasattr(torch.cuda, "_sleep"):
            torch.cuda._sleep(50_000)

    def gather_rows(self, t):
        """[reps, M] float64 on every rank -> [world, reps, M] (on every rank)."""
        if not self.distributed:
            return t.unsqueeze(0)
        out = torch.empty((self.world,) + tuple(t.shape), dtype=t.dtype, device=t.device)
        dist.all_gather_into_tensor(out, t.contiguous())
        return out

    def agree(self, flag):
        """Rank 0's decision (1 = go on), the same on every rank."""
        if not self.distributed:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.broadcast(t, 0)
        return int(t.item())

    def max_all(self, value):
        if not self.distributed:
            return value
        t = torch.tensor([float(value)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item()

    def close(self):
        if self.distributed:
            dist.destroy_process_group()


def count_ids(flat, n):
    """Occurrences of 0..n-1 in flat, on the device without a host sync (CUDA bincount reads the max)."""
    return torch.zeros(n, dtype=torch.int64, device=flat.device).scatter_add_(0, flat, torch.ones_like(flat))


def experts_block(x, wgu, wd, offs, F):
    if x.shape[0] == 0:
        return torch.empty((0, wd.shape[1]), dtype=x.dtype, device=x.device)
    y1 = torch._grouped_mm(x, wgu.transpose(-2, -1), offs=offs)
    a = Fn.silu(y1[:, :F]) * y1[:, F:]
    return torch._grouped_mm(a, wd.transpose(-2, -1), offs=offs)


class Layer:
    """One rank's MoE layer: x [T, H] bf16, ids [T, k] int64, w [T, k] float32; wgu [El, 2F, H], wd [El, H, F]."""

    def __init__(self, comm, x, ids, w, wgu, wd, num_experts):
        self.c, self.x, self.ids, self.w, self.wgu, self.wd = comm, x, ids, w, wgu, wd
        self.N, self.E = comm.world, num_experts
        self.El = num_experts // comm.world
        self.T, self.k = ids.shape
        self.H, self.F = x.shape[1], wd.shape[2]
        dev = x.device
        self.arangeT = torch.arange(self.T, device=dev)
        self.pair_key = torch.arange(self.N, device=dev)[:, None] * self.T + self.arangeT[None, :]  # [N, T]
        self.local_e = torch.arange(self.El, device=dev).repeat(self.N)  # [N * El]

    # Each returns the output [T, H] and the buffers the isolated stages reuse.
    def per_expert(self, mark):
        c, N, El, T, k, H = self.c, self.N, self.El, self.T, self.k, self.H
        mark("start")
        flat = self.ids.reshape(-1)
        send_e = count_ids(flat, self.E)  # [N * El], destination-major
        mark("route")
        recv_e = torch.empty_like(send_e)
        c.a2a(recv_e, send_e)
        host = torch.stack([send_e, recv_e]).cpu()
        send_split = host[0].view(N, El).sum(1).tolist()
        recv_split = host[1].view(N, El).sum(1).tolist()
        R = sum(recv_split)
        mark("counts")
        order = torch.argsort(flat, stable=True)
        xs = self.x.index_select(0, order // k)
        mark("permute")
        xr = torch.empty((R, H), dtype=BF16, device=self.x.device)
        c.a2a(xr, xs, recv_split, send_split)
        mark("dispatch")
        row_e = torch.repeat_interleave(self.local_e, recv_e, output_size=R)
        perm2 = torch.argsort(row_e, stable=True)
        xe = xr.index_select(0, perm2)
        offs = torch.cumsum(recv_e.view(N, El).sum(0), 0).to(torch.int32)
        mark("expert_permute")
        ye = experts_block(xe, self.wgu, self.wd, offs, self.F)
        mark("experts")
        yr = torch.empty_like(ye)
        yr.index_copy_(0, perm2, ye)
        mark("expert_unpermute")
        ys = torch.empty((T * k, H), dtype=BF16, device=self.x.device)
        c.a2a(ys, yr, send_split, recv_split)
        mark("combine")
        yflat = torch.empty_like(ys)
        yflat.index_copy_(0, order, ys)
        out = (yflat.view(T, k, H) * self.w.to(BF16).unsqueeze(-1)).sum(1)
        mark("unpermute")
        iso = {"dispatch": lambda: c.a2a(xr, xs, recv_split, send_split),
               "experts": lambda: experts_block(xe, self.wgu, self.wd, offs, self.F),
               "combine": lambda: c.a2a(ys, yr, send_split, recv_split)}
        counts = {"send": send_split, "recv": recv_split, "expert_rows": int(R)}
        return out, iso, counts

    def per_device(self, mark):
        c, N, El, T, k, H = self.c, self.N, self.El, self.T, self.k, self.H
        dev = self.x.device
        mark("start")
        dst_of = self.ids // El  # [T, k]
        mask = torch.zeros((T, N), dtype=torch.bool, device=dev).scatter_(1, dst_of, True)
        send = torch.cat([count_ids(self.ids.reshape(-1), self.E).view(N, El),
                          mask.sum(0).view(N, 1)], 1)  # [N, El + 1]: per local expert, then tokens (dedup)
        mark("route")
        recv = torch.empty_like(send)
        c.a2a(recv, send)
        host = torch.stack([send, recv]).cpu()
        send_split = host[0][:, El].tolist()
        recv_split = host[1][:, El].tolist()
        P, R, A = sum(send_split), sum(recv_split), int(host[1][:, :El].sum())
        mark("counts")
        keys = torch.where(mask.t(), self.pair_key, N * T).reshape(-1)
        sel = torch.sort(keys).values[:P]  # (rank, token) pairs, rank-major, tokens ascending
        pdst, ptok = sel // T, sel % T
        xs = self.x.index_select(0, ptok)
        ids_p = self.ids.index_select(0, ptok)
        local = torch.where(ids_p // El == pdst[:, None], ids_p - pdst[:, None] * El, -1).to(torch.int32)
        meta = torch.cat([local, self.w.index_select(0, ptok).contiguous().view(torch.int32)], 1)  # [P, 2k] int32
        mark("permute")
        xr = torch.empty((R, H), dtype=BF16, device=dev)
        mr = torch.empty((R, 2 * k), dtype=torch.int32, device=dev)
        c.a2a(xr, xs, recv_split, send_split)
        c.a2a(mr, meta, recv_split, send_split)
        mark("dispatch")
        lid = mr[:, :k].reshape(-1)
        wr = mr[:, k:].contiguous().view(torch.float32).reshape(-1)
        order2 = torch.argsort(torch.where(lid >= 0, lid, El), stable=True)[:A]
        row2 = order2 // k
        xe = xr.index_select(0, row2)
        we = wr.index_select(0, order2).to(BF16)
        offs = torch.cumsum(recv[:, :El].sum(0), 0).to(torch.int32)
        mark("expert_permute")
        ye = experts_block(xe, self.wgu, self.wd, offs, self.F)
        mark("experts")
        yrows = torch.zeros((R, H), dtype=BF16, device=dev)
        yrows.index_add_(0, row2, ye * we[:, None])
        mark("expert_unpermute")
        ys = torch.empty((P, H), dtype=BF16, device=dev)
        c.a2a(ys, yrows, send_split, recv_split)
        mark("combine")
        out = torch.zeros((T, H), dtype=BF16, device=dev)
        out.index_add_(0, ptok, ys)
        mark("unpermute")

        def dispatch():
            c.a2a(xr, xs, recv_split, send_split)
            c.a2a(mr, meta, recv_split, send_split)
        iso = {"dispatch": dispatch,
               "experts": lambda: experts_block(xe, self.wgu, self.wd, offs, self.F),
               "combine": lambda: c.a2a(ys, yrows, send_split, recv_split)}
        counts = {"send": send_split, "recv": recv_split, "expert_rows": A}
        return out, iso, counts


def router(x, wr, bias, moe):
    """The router: GEMM, then sigmoid + bias + group-limited top-k (DeepSeek-V3) or softmax top-k."""
    logits = (x @ wr.t()).float()
    k = moe["top_k"]
    if moe.get("gating") == "sigmoid":
        s = torch.sigmoid(logits)
        b = s + bias
        G, TG = moe.get("num_groups", 1), moe.get("topk_groups", 1)
        if G > 1 and TG < G:
            gs = b.view(b.shape[0], G, -1).topk(2, dim=-1).values.sum(-1)
            gi = gs.topk(TG, dim=-1).indices
            gm = torch.zeros_like(gs).scatter_(1, gi, 1.0).repeat_interleave(b.shape[1] // G, dim=1)
            b = b.masked_fill(gm == 0, float("-inf"))
        idx = b.topk(k, dim=-1).indices
        w = s.gather(1, idx)
    else:
        w, idx = torch.softmax(logits, dim=-1).topk(k, dim=-1)
    return w / w.sum(-1, keepdim=True), idx


def selftest(comm):
    """Both modes against a float64 reference on a small shape (4 experts per rank, top-2)."""
    H, F, El, k, T = 256, 128, 4, 2, 96
    E = El * comm.world
    g = torch.Generator().manual_seed(7)
    wgu_all = (torch.randn(E, 2 * F, H, generator=g) * H ** -0.5).to(BF16)
    wd_all = (torch.randn(E, H, F, generator=g) * F ** -0.5).to(BF16)
    gx = torch.Generator().manual_seed(1000 + comm.rank)
    x = torch.randn(T, H, generator=gx).to(BF16)
    ids = torch.rand(T, E, generator=gx).argsort(1)[:, :k]
    w = torch.softmax(torch.randn(T, k, generator=gx), -1)
    ref = torch.zeros(T, H, dtype=torch.float64)
    xd = x.double()
    for e in range(E):
        hit = (ids == e)
        rows = hit.any(1).nonzero().flatten()
        if len(rows) == 0:
            continue
        y1 = xd[rows] @ wgu_all[e].double().t()
        y = (Fn.silu(y1[:, :F]) * y1[:, F:]) @ wd_all[e].double().t()
        ref[rows] += (w[rows].double() * hit[rows].double()).sum(1, keepdim=True) * y
    d = comm.device
    lo = comm.rank * El
    layer = Layer(comm, x.to(d), ids.to(d), w.to(d), wgu_all[lo:lo + El].to(d).contiguous(), wd_all[lo:lo + El].to(d).contiguous(), E)
    errs = {}
    for mode in MODES:
        out, _, _ = getattr(layer, mode.replace("-", "_"))(lambda name: None)
        torch.cuda.synchronize()
        errs[mode] = comm.max_all(((out.double().cpu() - ref).norm() / ref.norm()).item())
    ok = all(e < 3e-2 for e in errs.values())
    return ok, errs


def smi(query):
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=30).stdout.strip().splitlines()
    except Exception as e:  # noqa: BLE001
        return [f"unavailable: {e}"]


def provenance(comm, args):
    try:
        nccl = ".".join(str(v) for v in torch.cuda.nccl.version())
    except Exception as e:  # noqa: BLE001
        nccl = f"unavailable: {e}"
    commit = args.commit
    if not commit:
        try:
            commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True, timeout=10).stdout.strip()
            commit = (commit + ("-dirty" if dirty else "")) if commit else "unknown"
        except Exception:  # noqa: BLE001
            commit = "unknown"
    props = torch.cuda.get_device_properties(comm.device)
    env_keys = sorted(k for k in os.environ if k.startswith(("NCCL_", "TORCH_NCCL", "TORCH_SYMM", "NVSHMEM_", "CUDA_VISIBLE", "CUDA_DEVICE_MAX")))
    return {"gpu_name": torch.cuda.get_device_name(comm.device), "sm_count": props.multi_processor_count,
            "memory_total_bytes": props.total_memory, "l2_bytes": getattr(props, "L2_cache_size", None),
            "driver": (smi("driver_version") or ["unknown"])[0],
            "gpus": smi("index,name,pci.bus_id,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,power.limit,clocks_event_reasons.active"),
            "torch": torch.__version__, "cuda": torch.version.cuda, "nccl": nccl if comm.distributed else f"{nccl} (not used)",
            "python": platform.python_version(), "hostname": socket.gethostname(),
            "world_size": comm.world, "local_world_size": comm.local_world, "nodes": max(1, comm.world // comm.local_world),
            "distributed": comm.distributed, "a2a_impl": comm.impl,
            "env": {k: os.environ[k] for k in env_keys},
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": commit, "command": " ".join([sys.executable] + sys.argv)}


def rand_bf16(shape, scale, gen, device):
    t = torch.randn(shape, dtype=BF16, device=device, generator=gen)
    return t.mul_(scale)


def exact_counts(ids_all, N, E, El):
    """The exact counts of this run (every rank computes them from the same file)."""
    src_counts = torch.stack([torch.bincount(ids_all[s].reshape(-1), minlength=E) for s in range(N)])  # [N, E]
    send_assign = src_counts.view(N, N, El).sum(2)  # [src, dst]
    dst_of = ids_all // El
    send_dedup = torch.stack([torch.stack([(dst_of[s] == t).any(1).sum() for t in range(N)]) for s in range(N)])
    return {"source_expert_tokens": src_counts.tolist(),
            "expert_tokens_per_rank": src_counts.sum(0).view(N, El).tolist(),
            "send_assignments": send_assign.tolist(),
            "send_tokens_dedup": send_dedup.tolist()}


def time_reps(comm, args, fn, flush):
    """Per timed rep of one mode: the fused stages, the whole layer and the isolated stages (us);
    and what rank 0 saw of the last rep's counts."""
    times = []
    for rep in range(args.warmup + args.reps):
        evs = {}

        def mark(nm):
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            evs[nm] = e
        flush()
        comm.sync_all()
        comm.align()
        out, iso, seen = fn(mark)
        iso_ev = {}
        for st in ("dispatch", "experts", "combine"):
            flush()
            comm.sync_all()
            comm.align()
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            iso[st]()
            e1.record()
            iso_ev[st] = (e0, e1)
        torch.cuda.synchronize()
        if rep < args.warmup:
            continue
        row, prev = [], evs["start"]
        for nm in FUSED[:-1]:
            row.append(prev.elapsed_time(evs[nm]) * 1e3)
            prev = evs[nm]
        row.append(evs["start"].elapsed_time(evs["unpermute"]) * 1e3)
        row += [iso_ev[st][0].elapsed_time(iso_ev[st][1]) * 1e3 for st in ("dispatch", "experts", "combine")]
        times.append(row)
    del out, iso
    return times, seen


def stage_stats(comm, times):
    """Per stage: statistics per rank over reps, and over reps of the maximum over ranks."""
    N = comm.world
    t = comm.gather_rows(torch.tensor(times, dtype=torch.float64, device=comm.device)).cpu()  # [N, reps, M]
    names = FUSED + ISOLATED
    stages = {}
    for m, nm in enumerate(names):
        per_rank = [summary(t[q, :, m].tolist()) for q in range(N)]
        stages[nm] = {"per_rank": per_rank, "max_over_ranks": summary(t[:, :, m].max(0).values.tolist())}
    stages["permute_total"] = {"max_over_ranks": summary((t[:, :, 0] + t[:, :, 2] + t[:, :, 4]).max(0).values.tolist())}
    stages["unpermute_total"] = {"max_over_ranks": summary((t[:, :, 6] + t[:, :, 8]).max(0).values.tolist())}
    return stages


def time_router(comm, args, x, wr, bias, moe, flush):
    """The router alone."""
    N = comm.world
    rt = []
    for rep in range(args.warmup + args.reps):
        flush()
        torch.cuda.synchronize()
        if hasattr(torch.cuda, "_sleep"):
            torch.cuda._sleep(50_000)
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        router(x, wr, bias if bias is not None else 0.0, moe)
        e1.record()
        torch.cuda.synchronize()
        if rep >= args.warmup:
            rt.append(e0.elapsed_time(e1) * 1e3)
    rtg = comm.gather_rows(torch.tensor(rt, dtype=torch.float64, device=comm.device).view(-1, 1)).cpu()
    return {"per_rank": [summary(rtg[q, :, 0].tolist()) for q in range(N)],
            "max_over_ranks": summary(rtg[:, :, 0].max(0).values.tolist()),
            "what": "x @ W_router^T (bf16 GEMM [T, H] x [H, E]), float scores, "
                    + ("sigmoid + bias, group-limited top-k" if moe.get("gating") == "sigmoid" else "softmax top-k") + ", renormalised"}


def case_record(comm, args, name, model, rows, routing_meta, counts, results, router_stats):
    moe = model["moe"]
    H, F, E, k = model["hidden_size"], moe["expert_intermediate_size"], moe["num_experts"], moe["top_k"]
    return {"format": FORMAT, "model": name,
            "shape": {"hidden": H, "intermediate": F, "num_experts": E, "top_k": k, "source": f"models/{name}.json"},
            "world_size": comm.world, "tokens_per_rank": args.tokens_now, "local_experts": E // comm.world,
            "placement": "contiguous (rank r holds experts r*E/N .. (r+1)*E/N - 1)",
            "dtype": "bf16", "expert_backend": "torch-grouped-mm", "a2a_impl": comm.impl,
            "routing": {"file": f"calibration/layer_routing/{name}.npy", "sha256": routing_meta["sha256_actual"], "rows": rows,
                        "token_rule": "token i of rank r is row (r * T + i) mod rows",
                        "source": routing_meta.get("source"), "source_layer": routing_meta.get("layer"),
                        "method": routing_meta.get("method")},
            "counts": counts,
            "timing": {"reps": args.reps, "warmup": args.warmup, "unit": "us",
                       "method": "CUDA events; per rep: 2xL2 memset, synchronize, barrier, aligning all_reduce, then the fused layer "
                                 "(an event per stage boundary); then dispatch, experts, combine each alone after their own memset + "
                                 "barrier + all_reduce. per_rank: over reps; max_over_ranks: over reps of the max over ranks",
                       "fused_stages": FUSED, "isolated_stages": ISOLATED},
            "modes": results, "router": router_stats}


def run_case(comm, args, name, model, routing_all, routing_meta, wgu, wd, flush):
    """One (model, tokens) case at this world size: warm-up, reps, stats; returns the JSON record (rank 0)."""
    N, r, d = comm.world, comm.rank, comm.device
    moe = model["moe"]
    H, E, k = model["hidden_size"], moe["num_experts"], moe["top_k"]
    El, T = E // N, args.tokens_now
    rows = routing_all.shape[0]
    idx_all = torch.arange(N * T) % rows
    ids_all = routing_all[idx_all].view(N, T, k)  # [N, T, k] CPU int64, every rank's routing
    gen = torch.Generator(device=d).manual_seed(1234 + r)
    x = rand_bf16((T, H), 1.0, gen, d)
    gw = torch.Generator().manual_seed(4321 + r)
    w = torch.softmax(torch.randn(T, k, generator=gw), -1).to(d)
    layer = Layer(comm, x, ids_all[r].to(d), w, wgu, wd, E)
    counts = exact_counts(ids_all, N, E, El)
    wr = rand_bf16((E, H), H ** -0.5, gen, d)
    bias = torch.zeros(E, device=d) if moe.get("gate_bias") else None
    results = {}
    for mode in args.modes:
        times, seen = time_reps(comm, args, getattr(layer, mode.replace("-", "_")), flush)
        results[mode] = {"stages": stage_stats(comm, times), "rank0_seen": seen}
    router_stats = time_router(comm, args, x, wr, bias, moe, flush)
    del layer, x, w, wr
    return case_record(comm, args, name, model, rows, routing_meta, counts, results, router_stats)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ",".join(MODELS))
    ap.add_argument("--tokens", default="128,1024,4096", help="tokens per GPU, comma-separated")
    ap.add_argument("--modes", default=",".join(MODES), help="dispatch modes: " + ",".join(MODES))
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--deadline-s", type=float, default=420.0, help="start no new case after this many seconds")
    ap.add_argument("--commit", default="", help="project commit (the device copy has no .git)")
    ap.add_argument("--no-selftest", action="store_true")
    args = ap.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    for m in args.modes:
        if m not in MODES:
            ap.error(f"unknown mode {m}")
    if args.reps < 1:
        ap.error("--reps must be >= 1")
    return args


class Run:
    """What main() shares with the per-model loop: the ranks, the deadline and what was written or skipped."""

    def __init__(self, comm, args, t0):
        self.comm, self.args, self.t0 = comm, args, t0
        self.lead = comm.rank == 0
        self.out = pathlib.Path(args.out)
        self.written, self.skipped = [], []

    def skip(self, why):
        self.skipped.append(why)
        if self.lead:
            log(f"skip {why}")

    def in_time(self):
        """Rank 0's decision whether to start another case, the same on every rank."""
        return self.comm.agree(1 if time.monotonic() - self.t0 < self.args.deadline_s else 0)

    def write(self, rec, prov, name, T, tc):
        rec["provenance"] = prov
        rec["provenance"]["gpus_after"] = smi("index,clocks.sm,temperature.gpu,power.draw,clocks_event_reasons.active")
        path = self.out / f"moe_layer-{name}-t{T}-w{self.comm.world}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(rec, indent=1) + "\n")
        tmp.replace(path)
        self.written.append(str(path))
        msg = []
        for mode, res in rec["modes"].items():
            s = res["stages"]
            med = {st: s[st]["max_over_ranks"]["median_us"] for st in ("layer", "dispatch_isolated", "experts_isolated", "combine_isolated")}
            msg.append(f"{mode}: layer {med['layer']:.0f} us, dispatch {med['dispatch_isolated']:.0f}, "
                       f"experts {med['experts_isolated']:.0f}, combine {med['combine_isolated']:.0f}")
        log(f"{name} T={T} N={self.comm.world} ({time.monotonic() - tc:.1f} s): " + "; ".join(msg))


def run_model(run, name, index, prov, flush):
    """Every token count of one model at this world size."""
    comm, args = run.comm, run.args
    model = json.loads((ROOT / "models" / f"{name}.json").read_text())
    moe = model["moe"]
    H, F, E = model["hidden_size"], moe["expert_intermediate_size"], moe["num_experts"]
    if E % comm.world:
        run.skip(f"{name}: {E} experts do not divide over {comm.world} GPUs")
        return
    rpath = ROOT / "calibration/layer_routing" / f"{name}.npy"
    routing_all = read_npy(rpath)
    rmeta = dict(index["models"][name])
    rmeta["sha256_actual"] = hashlib.sha256(rpath.read_bytes()).hexdigest()
    if rmeta["sha256_actual"] != rmeta.get("sha256"):
        log(f"warning: {rpath} sha256 differs from routing.json")
    if not run.in_time():
        run.skip(f"{name}: deadline ({args.deadline_s} s) reached")
        return
    El = E // comm.world
    gen = torch.Generator(device=comm.device).manual_seed(99 + comm.rank)
    if run.lead:
        log(f"{name}: allocating {El} experts x (gate/up [{2 * F}, {H}] + down [{H}, {F}]) bf16 = {El * 3 * H * F * 2 / 1e9:.1f} GB per GPU")
    wgu = rand_bf16((El, 2 * F, H), H ** -0.5, gen, comm.device)
    wd = rand_bf16((El, H, F), F ** -0.5, gen, comm.device)
    for T in [int(v) for v in args.tokens.split(",") if v]:
        if not run.in_time():
            run.skip(f"{name} T={T}: deadline ({args.deadline_s} s) reached")
            continue
        args.tokens_now = T
        tc = time.monotonic()
        rec = run_case(comm, args, name, model, routing_all, rmeta, wgu, wd, flush)
        if run.lead:
            run.write(rec, prov, name, T, tc)
        torch.cuda.empty_cache()
    del wgu, wd
    torch.cuda.empty_cache()


def main():
    args = parse_args()
    t0 = time.monotonic()
    if not torch.cuda.is_available():
        log("no CUDA device")
        return 2
    if not hasattr(torch, "_grouped_mm"):
        log(f"torch {torch.__version__} has no torch._grouped_mm")
        return 2
    comm = Comm()
    run = Run(comm, args, t0)
    if run.lead:
        run.out.mkdir(parents=True, exist_ok=True)
        log(f"world size {comm.world} ({comm.impl}); {torch.cuda.get_device_name(comm.device)}; torch {torch.__version__}")
    prov = provenance(comm, args)
    if not args.no_selftest:
        ok, errs = selftest(comm)
        prov["selftest"] = {"rel_err": errs, "ok": ok}
        if run.lead:
            log(f"selftest: {errs} {'ok' if ok else 'FAILED'}")
        if not ok:
            comm.close()
            return 1
    index = json.loads((ROOT / "calibration/layer_routing/routing.json").read_text())
    l2 = torch.cuda.get_device_properties(comm.device).L2_cache_size
    scratch = torch.empty(max(2 * l2, 64 << 20), dtype=torch.uint8, device=comm.device)
    for name in [m for m in args.models.split(",") if m]:
        run_model(run, name, index, prov, scratch.zero_)
    if run.lead:
        summary_doc = {"written": run.written, "skipped": run.skipped, "seconds": round(time.monotonic() - t0, 1)}
        (run.out / "moe_layer_bench.summary.json").write_text(json.dumps(summary_doc, indent=1) + "\n")
        log(f"done in {time.monotonic() - t0:.1f} s: {len(run.written)} files, {len(run.skipped)} skipped")
    comm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
