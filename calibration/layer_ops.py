"""The ops of one transformer layer as a PyTorch serving framework runs them on one GPU, shared by
calibration/bench_layer_ops.py (each op timed alone over a grid) and
calibration/bench_transformer_layer.py (whole layers built from exactly these ops), so that the
per-op tables and the layer measurement time the same kernels.

Every op is a function of preallocated tensors (no host synchronisation inside, so it can be
captured in a CUDA graph). Shapes are per GPU; bf16 unless said. Kernels:

  rms_norm        F.rms_norm over the last dim (PyTorch's fused kernel)               x [rows, width]
  add             x += r (residual add)                                               [rows, width]
  silu_mul        F.silu(y[:, :F]) * y[:, F:]  (2 kernels)                            y [rows, 2F]
  rope            neox rotary on the first rot_dim of each head: x*cos + rot(x)*sin   x [T, heads, rot_dim]
  quant_fp8       per-token (row-wise) e4m3 quantisation: amax, scale, cast           x [rows, width]
  gemm            torch.matmul, bf16 in/out, fp32 accumulate (cuBLAS)                 [M, K] x [K, N]
  gemm_fp8        torch._scaled_mm, e4m3, row-wise scales, bf16 out (cuBLASLt)        [M, K] x [K, N]
  topk_softmax    softmax (fp32) -> top-k -> renormalise                               logits [T, E]
  topk_sigmoid_grouped  DeepSeek-V3's noaux_tc: sigmoid, + bias, top-2 sum per group, top groups,
                  mask, top-k, gather, renormalise, scale                             logits [T, E]
  permute         argsort of the flat expert ids, per-expert counts (scatter_add), cumsum offsets,
                  gather of the token rows into expert-major order                    x [T, H] -> [T*k, H]
  unpermute       inverse permutation, gather, x gate weight, sum over top-k         y [T*k, H] -> [T, H]
  attn_prefill    SDPA, causal, the fastest of the flash / cuDNN / efficient backends that runs
                  q [b, h, s, d], k, v [b, hk, s, d]
  attn_prefill_mla  MLA prefill with materialised K/V: q = cat(q_nope, q_pe), k = cat(k_nope, k_pe
                  broadcast over heads), then SDPA causal with qk dim 192, v dim 128
  attn_decode     split-KV flash decoding (moesim's own Triton kernel below; no PyTorch kernel
                  splits the KV of one query): q [b, hk, g, d] against a KV cache [b, hk, ctx, d]
  attn_decode_mla the same kernel absorbed against DeepSeek's latent cache: one KV "head" of 576
                  (512 latent + 64 rope), V = its first 512, all h query heads per program block
  mla_absorb      MLA decode's two per-head batched GEMMs: q_nope [T, h, 128] x W_UK [h, 128, 512]
                  and o_latent [T, h, 512] x W_UV [h, 512, 128] (torch.bmm on head-major views)
  experts         torch._grouped_mm gate/up, silu_mul, torch._grouped_mm down (int32 end offsets,
                  all local experts); fp8: torch._scaled_grouped_mm with row-wise scales on tokens
                  already quantised (by the dispatch) and the activation quantised in the block
"""
import math

import torch
import torch.nn.functional as Fn

try:
    import triton
    import triton.language as tl
except ImportError:  # the table then has no attn_decode rows; bench_layer_ops.py says so
    triton = None

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0


def rms_norm(x, w, eps=1e-6):
    return Fn.rms_norm(x, (x.shape[-1],), w, eps)


def add_(x, r):
    return x.add_(r)


def silu_mul(y):
    f = y.shape[-1] // 2
    return Fn.silu(y[..., :f]) * y[..., f:]


def rope(x, cos, sin):
    """x [T, h, d], cos/sin [T, 1, d]: neox-style rotary (halves rotated)."""
    d = x.shape[-1] // 2
    rot = torch.cat((-x[..., d:], x[..., :d]), dim=-1)
    return x * cos + rot * sin


def quant_fp8(x):
    """Row-wise e4m3 quantisation: returns (x_fp8, scale [rows, 1] fp32)."""
    amax = x.abs().amax(dim=-1, keepdim=True).float().clamp_(min=1e-12)
    scale = amax / FP8_MAX
    return (x / scale).to(FP8), scale


def gemm(a, b_t):
    """a [M, K], b_t [N, K] (nn.Linear layout): a @ b_t.T."""
    return torch.matmul(a, b_t.t())


def gemm_fp8(a8, sa, b8_t, sb):
    """a8 [M, K] e4m3 with sa [M, 1]; b8_t [N, K] e4m3 with sb [1, N]; bf16 out."""
    return torch._scaled_mm(a8, b8_t.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16)


def topk_softmax(logits, k):
    p = torch.softmax(logits.float(), dim=-1)
    w, ids = torch.topk(p, k, dim=-1)
    return w / w.sum(-1, keepdim=True), ids


def topk_sigmoid_grouped(logits, bias, k, groups, topk_groups, scale=2.5):
    t, e = logits.shape
    s = torch.sigmoid(logits.float())
    sb = s + bias
    gs = sb.view(t, groups, e // groups).topk(2, dim=-1).values.sum(-1)
    gi = gs.topk(topk_groups, dim=-1).indices
    gmask = torch.zeros_like(gs).scatter_(1, gi, 1.0)
    mask = gmask.unsqueeze(-1).expand(t, groups, e // groups).reshape(t, e)
    ids = sb.masked_fill(mask == 0, float("-inf")).topk(k, dim=-1).indices
    w = s.gather(1, ids)
    return w / w.sum(-1, keepdim=True) * scale, ids


def permute(x, ids, num_experts):
    """Expert-major copies of the token rows: (rows [T*k, H], order [T*k], int32 end offsets [E])."""
    flat = ids.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(num_experts, dtype=torch.int32, device=x.device)
    counts.scatter_add_(0, flat.to(torch.int64), torch.ones_like(flat, dtype=torch.int32))
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    return x.index_select(0, order // ids.shape[1]), order, offs


def unpermute(y, order, w):
    """y [T*k, H] in expert-major order -> [T, H]: each token's k rows weighted by its gates."""
    t, k = w.shape
    inv = torch.empty_like(order)
    inv[order] = torch.arange(order.numel(), device=order.device)
    return (y.index_select(0, inv).view(t, k, -1) * w.unsqueeze(-1).to(y.dtype)).sum(1)


def experts_bf16(x, wgu, wd, offs):
    y1 = torch._grouped_mm(x, wgu.transpose(-2, -1), offs=offs)
    return torch._grouped_mm(silu_mul(y1), wd.transpose(-2, -1), offs=offs)


def experts_fp8(xq, sx, wgu8, sgu, wd8, sd, offs):
    """FP8 grouped SwiGLU block: xq [T, H] e4m3 with row scales sx [T] (quantised before dispatch,
    as DeepEP's FP8 dispatch delivers it), wgu8 [E, 2F, H] / wd8 [E, H, F] e4m3 with
    per-(expert, output row) scales sgu [E, 2F], sd [E, H]; the SiLU*mul output is quantised
    row-wise in the block. torch._scaled_grouped_mm, bf16 out."""
    y1 = torch._scaled_grouped_mm(xq, wgu8.transpose(-2, -1), sx, sgu, offs=offs, out_dtype=torch.bfloat16)
    aq, sa = quant_fp8(silu_mul(y1))
    return torch._scaled_grouped_mm(aq, wd8.transpose(-2, -1), sa.squeeze(-1), sd, offs=offs, out_dtype=torch.bfloat16)


def quant_weights_fp8(w):
    """[E, N, K] bf16 -> (e4m3 [E, N, K], fp32 scales [E, N]): one scale per output row."""
    amax = w.abs().amax(dim=-1).float().clamp_(min=1e-12)
    scale = amax / FP8_MAX
    return (w / scale.unsqueeze(-1).to(w.dtype)).to(FP8), scale


SDPA_BACKENDS = ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION")


def sdpa(q, k, v, backend):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel([getattr(SDPBackend, backend)]):
        return Fn.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=k.shape[1] != q.shape[1])


def mla_prefill(q_nope, q_pe, k_nope, k_pe, v, backend):
    """MLA prefill with materialised K/V: q_nope [b, h, s, 128], q_pe [b, h, s, 64] (rotated),
    k_nope [b, h, s, 128], k_pe [b, 1, s, 64] (rotated, shared by the heads), v [b, h, s, 128]."""
    q = torch.cat((q_nope, q_pe), dim=-1)
    k = torch.cat((k_nope, k_pe.expand(-1, k_nope.shape[1], -1, -1)), dim=-1)
    return sdpa(q, k, v, backend)


def mla_absorb_q(q_nope, w_uk):
    """MLA decode, absorbed: q_nope [T, h, 128] x W_UK [h, 128, 512] -> q_latent [T, h, 512]."""
    return torch.bmm(q_nope.transpose(0, 1), w_uk).transpose(0, 1)


def mla_absorb_o(o_lat, w_uv):
    """o_latent [T, h, 512] x W_UV [h, 512, 128] -> [T, h * 128] (heads concatenated)."""
    t, h = o_lat.shape[0], o_lat.shape[1]
    return torch.bmm(o_lat.transpose(0, 1), w_uv).transpose(0, 1).reshape(t, h * w_uv.shape[-1])


def mla_decode(op, q_lat, q_pe, cache):
    """q_lat [b, h, 512], q_pe [b, h, 64], latent cache [b, 1, ctx, 576] -> [b, h, 512]."""
    b, h = q_lat.shape[0], q_lat.shape[1]
    q = torch.cat((q_lat, q_pe), dim=-1).view(b, 1, h, 576)
    return op(q, cache, cache[..., :512]).view(b, h, 512)


# ---------------------------------------------------------------- split-KV flash decoding (Triton)
if triton is not None:
    @triton.jit
    def _decode_kernel(Q, K, V, Mid, Lse, ctx, split_len, sm_scale, sq_bh, sq_g, sk_bh, sk_n, sv_bh, sv_n,
                       sm_bh, sm_s, sm_g, sl_bh, sl_s, G, HEAD_BLOCKS,
                       BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr, DK: tl.constexpr, DPE: tl.constexpr,
                       DV: tl.constexpr):
        pid = tl.program_id(0)
        pid_s = tl.program_id(1)
        bh = (pid // HEAD_BLOCKS).to(tl.int64)  # offsets pass 2^31 elements in large caches
        g = (pid % HEAD_BLOCKS) * BLOCK_G + tl.arange(0, BLOCK_G)
        gmask = g < G
        dk = tl.arange(0, DK)
        dv = tl.arange(0, DV)
        qrow = Q + bh * sq_bh + g[:, None] * sq_g
        q = tl.load(qrow + dk[None, :], mask=gmask[:, None], other=0.0)
        if DPE > 0:
            dp = tl.arange(0, DPE)
            qp = tl.load(qrow + DK + dp[None, :], mask=gmask[:, None], other=0.0)
        start = pid_s.to(tl.int64) * split_len
        end = tl.minimum(start + split_len, ctx)
        m_i = tl.zeros([BLOCK_G], dtype=tl.float32) - float("inf")
        l_i = tl.zeros([BLOCK_G], dtype=tl.float32)
        acc = tl.zeros([BLOCK_G, DV], dtype=tl.float32)
        for n0 in range(start, end, BLOCK_N):
            n = n0 + tl.arange(0, BLOCK_N)
            nmask = n < end
            krow = K + bh * sk_bh + n[:, None] * sk_n
            k = tl.load(krow + dk[None, :], mask=nmask[:, None], other=0.0)
            s = tl.dot(q, tl.trans(k))
            if DPE > 0:
                kp = tl.load(krow + DK + dp[None, :], mask=nmask[:, None], other=0.0)
                s += tl.dot(qp, tl.trans(kp))
            s = tl.where(nmask[None, :], s * sm_scale, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            alpha = tl.exp(m_i - m_new)
            p = tl.exp(s - m_new[:, None])
            l_i = l_i * alpha + tl.sum(p, 1)
            v = tl.load(V + bh * sv_bh + n[:, None] * sv_n + dv[None, :], mask=nmask[:, None], other=0.0)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_new
        tl.store(Mid + bh * sm_bh + pid_s * sm_s + g[:, None] * sm_g + dv[None, :], acc / l_i[:, None], mask=gmask[:, None])
        tl.store(Lse + bh * sl_bh + pid_s * sl_s + g, m_i + tl.log(l_i), mask=gmask)


class DecodeAttention:
    """Split-KV decoding of one query token per sequence against a KV cache, as serving engines
    run it (FlashDecoding): the context is cut into `splits` pieces so that batch x kv-heads x
    head-blocks x splits programs fill the GPU twice over; each program keeps a running max and
    sum (online softmax) over blocks of BLOCK_N cached tokens and writes its partial output and
    log-sum-exp; a PyTorch reduction merges the splits. GQA: q [b, hk, g, d], k/v caches
    [b, hk, ctx, d]; one program covers up to BLOCK_G of the g query heads sharing a KV head.
    MLA (absorbed): q [b, 1, h, 576], cache [b, 1, ctx, 576], V = cache[..., :512] (dk 512 + dpe 64)."""

    def __init__(self, b, hk, g, ctx, dk, dpe, dv, device, sms, block_g=None, block_n=None, num_warps=None):
        self.b, self.hk, self.g, self.ctx, self.dk, self.dpe, self.dv = b, hk, g, ctx, dk, dpe, dv
        self.block_g = block_g or max(16, min(32 if dv > 256 else 64, triton.next_power_of_2(g)))
        self.head_blocks = math.ceil(g / self.block_g)
        # Defaults from calibration/tune_decode.py on an H200 (2026-12-04): 4 warps throughout; 64
        # cached tokens per step, 32 for MLA's 16-head blocks (its 512-wide V tile).
        self.block_n = block_n or (32 if dv > 256 and self.block_g < 32 else 64)
        self.num_warps = num_warps or 4
        progs = b * hk * self.head_blocks
        want = max(1, math.ceil(2 * sms / progs))
        splits = max(1, min(want, math.ceil(ctx / (4 * self.block_n))))
        self.split_len = math.ceil(math.ceil(ctx / splits) / self.block_n) * self.block_n
        self.splits = math.ceil(ctx / self.split_len)
        self.mid = torch.empty((b * hk, self.splits, g, dv), device=device, dtype=torch.float32)
        self.lse = torch.empty((b * hk, self.splits, g), device=device, dtype=torch.float32)

    def __call__(self, q, k, v):
        bh = self.b * self.hk
        qf = q.reshape(bh, self.g, q.shape[-1])
        kf = k.reshape(bh, self.ctx, k.shape[-1])
        vf = v.reshape(bh, self.ctx, v.shape[-1])
        m, ls = self.mid, self.lse
        _decode_kernel[(bh * self.head_blocks, self.splits)](
            qf, kf, vf, m, ls, self.ctx, self.split_len, (self.dk + self.dpe) ** -0.5,
            qf.stride(0), qf.stride(1), kf.stride(0), kf.stride(1), vf.stride(0), vf.stride(1),
            m.stride(0), m.stride(1), m.stride(2), ls.stride(0), ls.stride(1), self.g, self.head_blocks,
            BLOCK_G=self.block_g, BLOCK_N=self.block_n, DK=self.dk, DPE=self.dpe, DV=self.dv,
            num_warps=self.num_warps, num_stages=2)
        mx = ls.amax(dim=1, keepdim=True)
        wgt = torch.exp(ls - mx)
        out = (m * wgt.unsqueeze(-1)).sum(1) / wgt.sum(1).unsqueeze(-1)
        return out.to(q.dtype).view(self.b, self.hk, self.g, self.dv)


def decode_reference(q, k, v, dk_total):
    """float64 reference of DecodeAttention: q [b, hk, g, D], k [b, hk, ctx, D], v [b, hk, ctx, dv]."""
    s = torch.einsum("bhgd,bhnd->bhgn", q.double(), k.double()) * dk_total ** -0.5
    return torch.einsum("bhgn,bhnd->bhgd", torch.softmax(s, -1), v.double())
