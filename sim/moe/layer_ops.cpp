#include "sim/moe/layer_ops.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "sim/io/errors.h"

namespace moesim {
namespace {

double d(int64_t v) { return static_cast<double>(v); }

// A memory-bound op that reads and writes `elems` activation elements `passes` times.
LayerOp elementwise(LayerOpKind kind, LayerBlock block, const std::string& name, const std::string& table_op,
                    std::vector<double> coords, double elems, double passes, double act_bytes) {
  LayerOp op{kind, block, name, table_op, std::move(coords), {}};
  op.roofline.bytes = elems * passes * act_bytes;
  op.roofline.flops = elems * 4.0;
  op.roofline.kernels = 1;
  return op;
}

LayerOp norm(LayerBlock block, const std::string& name, int64_t rows, int64_t width, double act_bytes) {
  return elementwise(LayerOpKind::Norm, block, name, "rms_norm", {d(rows), d(width)}, d(rows) * d(width), 2, act_bytes);
}

LayerOp residual(LayerBlock block, int64_t rows, int64_t width, double act_bytes) {
  return elementwise(LayerOpKind::Residual, block, "residual add", "add", {d(rows), d(width)}, d(rows) * d(width), 3, act_bytes);
}

LayerOp rope(LayerBlock block, const std::string& name, int64_t tokens, int64_t heads, int64_t rot_dim, double act_bytes) {
  LayerOp op = elementwise(LayerOpKind::Rope, block, name, "rope", {d(tokens), d(heads), d(rot_dim)}, d(tokens) * d(heads) * d(rot_dim), 4,
                           act_bytes);
  op.roofline.kernels = 4;
  return op;
}

int64_t per_device(int64_t heads, int64_t tp) { return std::max<int64_t>(1, heads / tp); }

void gqa_attention(const ModelConfig& m, const LayerShape& s, std::vector<LayerOp>& ops) {
  const auto& a = m.attention;
  const int64_t T = s.tokens, H = m.hidden_size, hd = a.head_dim, tp = s.tensor_parallel;
  const int64_t hq = per_device(a.num_heads, tp), hk = per_device(a.num_kv_heads, tp);
  const double wb = dtype_bytes(s.weight_dtype), ab = s.act_bytes;
  ops.push_back(gemm_op(LayerOpKind::Projection, LayerBlock::Attention, "QKV projection", T, (hq + 2 * hk) * hd, H, s.weight_dtype, wb, ab));
  if (a.qk_norm == QkNorm::PerHead) {
    ops.push_back(norm(LayerBlock::Attention, "q norm (per head)", T * hq, hd, ab));
    ops.push_back(norm(LayerBlock::Attention, "k norm (per head)", T * hk, hd, ab));
  } else if (a.qk_norm == QkNorm::FullWidth) {
    ops.push_back(norm(LayerBlock::Attention, "q norm", T, hq * hd, ab));
    ops.push_back(norm(LayerBlock::Attention, "k norm", T, hk * hd, ab));
  }
  ops.push_back(rope(LayerBlock::Attention, "rotary q", T, hq, hd, ab));
  ops.push_back(rope(LayerBlock::Attention, "rotary k", T, hk, hd, ab));
  LayerOp core{LayerOpKind::AttentionCore, LayerBlock::Attention, "", "", {}, {}};
  if (s.decode) {
    core.name = "decode attention";
    core.table_op = "attn_decode";
    core.coords = {d(T), d(std::max<int64_t>(1, s.context)), d(hk), d(hq / hk)};
    core.roofline.flops = 4.0 * d(T) * d(s.context) * d(hq) * d(hd);
    core.roofline.bytes = d(T) * d(s.context) * 2.0 * d(hk) * d(hd) * s.kv_bytes;
  } else {
    const int64_t seq = std::max<int64_t>(1, std::min(s.sequence_length, T));
    const double seqs = d(T) / d(seq);
    core.name = "prefill attention (causal)";
    core.table_op = "attn_prefill";
    core.coords = {d(seq), seqs * d(hq), d(hd)};
    core.roofline.flops = 2.0 * seqs * d(hq) * d(seq) * d(seq) * d(hd);  // QK^T and PV over the causal half
    core.roofline.bytes = d(T) * (2.0 * d(hq) + 2.0 * d(hk)) * d(hd) * ab;
  }
  ops.push_back(core);
  ops.push_back(gemm_op(LayerOpKind::Projection, LayerBlock::Attention, "output projection", T, H, hq * hd, s.weight_dtype, wb, ab));
}

void mla_attention(const ModelConfig& m, const LayerShape& s, std::vector<LayerOp>& ops) {
  const auto& a = m.attention;
  const int64_t T = s.tokens, H = m.hidden_size, tp = s.tensor_parallel, h = per_device(a.num_heads, tp);
  const int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim, kl = a.kv_lora_rank, rd = a.qk_rope_head_dim;
  const double wb = dtype_bytes(s.weight_dtype), ab = s.act_bytes;
  const int64_t q_in = a.q_lora_rank > 0 ? a.q_lora_rank : H;
  const int64_t latent_width = (a.q_lora_rank > 0 ? a.q_lora_rank : 0) + kl + rd;
  ops.push_back(gemm_op(LayerOpKind::Projection, LayerBlock::Attention, "q_a/kv_a projection", T, latent_width, H, s.weight_dtype, wb, ab));
  if (a.q_lora_rank > 0) ops.push_back(norm(LayerBlock::Attention, "q latent norm", T, a.q_lora_rank, ab));
  ops.push_back(norm(LayerBlock::Attention, "kv latent norm", T, kl, ab));
  ops.push_back(rope(LayerBlock::Attention, "rotary k_pe", T, 1, rd, ab));
  ops.push_back(gemm_op(LayerOpKind::Projection, LayerBlock::Attention, "q_b projection", T, h * qk, q_in, s.weight_dtype, wb, ab));
  ops.push_back(rope(LayerBlock::Attention, "rotary q_pe", T, h, rd, ab));
  LayerOp core{LayerOpKind::AttentionCore, LayerBlock::Attention, "", "", {}, {}};
  if (s.decode) {
    LayerOp absorb{LayerOpKind::Projection, LayerBlock::Attention, "absorbed W_UK / W_UV (batched)", "mla_absorb", {d(T), d(h)}, {}};
    absorb.roofline.flops = 2.0 * d(T) * d(h) * d(a.qk_nope_head_dim + a.v_head_dim) * d(kl);
    absorb.roofline.bytes = d(h) * d(a.qk_nope_head_dim + a.v_head_dim) * d(kl) * wb + d(T) * d(h) * 2.0 * d(kl) * ab;
    absorb.roofline.kernels = 3;
    ops.push_back(absorb);
    core.name = "decode attention (MLA, absorbed)";
    core.table_op = "attn_decode_mla";
    core.coords = {d(T), d(std::max<int64_t>(1, s.context)), d(h)};
    core.roofline.flops = 2.0 * d(T) * d(s.context) * d(h) * d(2 * kl + rd);
    core.roofline.bytes = d(T) * d(s.context) * d(kl + rd) * s.kv_bytes;
  } else {
    ops.push_back(gemm_op(LayerOpKind::Projection, LayerBlock::Attention, "kv_b projection", T, h * (a.qk_nope_head_dim + a.v_head_dim), kl,
                          s.weight_dtype, wb, ab));
    const int64_t seq = std::max<int64_t>(1, std::min(s.sequence_length, T));
    const double seqs = d(T) / d(seq);
    core.name = "prefill attention (MLA, K/V materialised)";
    core.table_op = "attn_prefill_mla";
    core.coords = {d(seq), seqs * d(h)};
    core.roofline.flops = seqs * d(h) * d(seq) * d(seq) * d(qk + a.v_head_dim);
    core.roofline.bytes = d(T) * d(h) * d(2 * qk + 2 * a.v_head_dim) * ab;
  }
  ops.push_back(core);
  ops.push_back(gemm_op(LayerOpKind::Projection, LayerBlock::Attention, "output projection", T, H, h * a.v_head_dim, s.weight_dtype, wb, ab));
}

}  // namespace

const char* layer_op_kind_name(LayerOpKind k) {
  switch (k) {
    case LayerOpKind::Norm: return "norm";
    case LayerOpKind::Projection: return "projection";
    case LayerOpKind::Rope: return "rope";
    case LayerOpKind::AttentionCore: return "attention_core";
    case LayerOpKind::Residual: return "residual";
    case LayerOpKind::Router: return "router";
    case LayerOpKind::Permute: return "permute";
    case LayerOpKind::Unpermute: return "unpermute";
    case LayerOpKind::Quantisation: return "quantisation";
    case LayerOpKind::SharedExpert: return "shared_expert";
    case LayerOpKind::DenseFfn: return "dense_ffn";
    case LayerOpKind::LmHead: return "lm_head";
  }
  return "?";
}

LayerOp gemm_op(LayerOpKind kind, LayerBlock block, const std::string& name, int64_t M, int64_t N, int64_t K, Dtype dtype,
                double weight_bytes, double act_bytes) {
  const bool fp8 = dtype_bytes(dtype) < 2;
  LayerOp op{kind, block, name, fp8 ? "gemm_fp8" : "gemm", {d(M), d(N), d(K)}, {}};
  op.roofline.flops = 2.0 * d(M) * d(N) * d(K);
  op.roofline.bytes = d(N) * d(K) * weight_bytes + d(M) * (d(K) + d(N)) * act_bytes;
  op.roofline.dtype = dtype;
  return op;
}

std::vector<LayerOp> attention_ops(const ModelConfig& m, const LayerShape& s) {
  std::vector<LayerOp> ops;
  ops.push_back(norm(LayerBlock::Attention, "input norm", s.tokens, m.hidden_size, s.act_bytes));
  if (m.attention.kind == AttentionKind::Mla)
    mla_attention(m, s, ops);
  else
    gqa_attention(m, s, ops);
  ops.push_back(residual(LayerBlock::Attention, s.tokens, m.hidden_size, s.act_bytes));
  return ops;
}

std::vector<LayerOp> moe_local_ops(const ModelConfig& m, const LayerShape& s) {
  const auto& mo = m.moe;
  const int64_t T = s.tokens, H = m.hidden_size, E = mo.num_experts, k = mo.top_k;
  const double ab = s.act_bytes;
  std::vector<LayerOp> ops;
  const auto pre = LayerBlock::MoeBeforeDispatch, post = LayerBlock::MoeAfterCombine;
  ops.push_back(norm(pre, "post-attention norm", T, H, ab));
  ops.push_back(gemm_op(LayerOpKind::Router, pre, "router GEMM", T, E, H, Dtype::Bf16, 2.0, ab));
  const bool grouped = mo.num_groups > 1 || mo.gate_bias;
  LayerOp topk = elementwise(LayerOpKind::Router, pre, grouped ? "top-k (sigmoid, group-limited)" : "top-k (softmax)",
                             grouped ? "topk_sigmoid_grouped" : "topk_softmax", {d(T), d(E), d(k)}, d(T) * d(E), 3, 4.0);
  topk.roofline.kernels = grouped ? 12 : 4;
  ops.push_back(topk);
  LayerOp perm = elementwise(LayerOpKind::Permute, pre, "permute", "permute", {d(T), d(k), d(H)}, d(T) * d(k) * d(H), 1, ab);
  perm.roofline.bytes += d(T) * d(H) * ab;
  perm.roofline.kernels = 5;
  ops.push_back(perm);
  if (s.quantise_dispatch) ops.push_back(elementwise(LayerOpKind::Quantisation, pre, "FP8 quantisation", "quant_fp8", {d(T), d(H)}, d(T) * d(H), 3, ab));
  LayerOp unperm = elementwise(LayerOpKind::Unpermute, post, "weighted unpermute", "unpermute", {d(T), d(k), d(H)}, d(T) * d(k) * d(H), 3, ab);
  unperm.roofline.kernels = 4;
  ops.push_back(unperm);
  ops.push_back(residual(post, T, H, ab));
  return ops;
}

std::vector<LayerOp> swiglu_mlp_ops(const ModelConfig& m, const LayerShape& s, int64_t F, LayerOpKind kind, LayerBlock block,
                                    const std::string& what) {
  const int64_t T = s.tokens, H = m.hidden_size;
  const double wb = dtype_bytes(s.weight_dtype), ab = s.act_bytes;
  std::vector<LayerOp> ops;
  ops.push_back(gemm_op(kind, block, what + " gate/up GEMM", T, 2 * F, H, s.weight_dtype, wb, ab));
  LayerOp act = elementwise(kind, block, what + " SiLU*mul", "silu_mul", {d(T), d(F)}, d(T) * d(F), 3, ab);
  act.roofline.kernels = 2;
  ops.push_back(act);
  ops.push_back(gemm_op(kind, block, what + " down GEMM", T, H, F, s.weight_dtype, wb, ab));
  LayerOp add = residual(block, T, H, ab);
  add.kind = kind;
  ops.push_back(add);
  return ops;
}

std::vector<LayerOp> lm_head_ops(const ModelConfig& m, const LayerShape& s) {
  std::vector<LayerOp> ops;
  if (s.lm_head_tokens <= 0) return ops;
  LayerOp n = norm(LayerBlock::LmHead, "final norm", s.lm_head_tokens, m.hidden_size, s.act_bytes);
  n.kind = LayerOpKind::LmHead;
  ops.push_back(n);
  ops.push_back(gemm_op(LayerOpKind::LmHead, LayerBlock::LmHead, "LM head GEMM", s.lm_head_tokens,
                        std::max<int64_t>(1, m.vocab_size / s.tensor_parallel), m.hidden_size, Dtype::Bf16, 2.0, s.act_bytes));
  return ops;
}

std::vector<int64_t> even_counts(int64_t copies, int64_t experts) {
  std::vector<int64_t> out(static_cast<size_t>(std::max<int64_t>(1, experts)), 0);
  const auto n = static_cast<int64_t>(out.size());
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = copies / n + (i < copies % n ? 1 : 0);
  return out;
}

OpCost table_op_work(const std::string& op, const std::vector<double>& c) {
  static const std::map<std::string, size_t> axes = {
      {"gemm", 3}, {"gemm_fp8", 3}, {"attn_prefill", 3}, {"attn_prefill_mla", 2}, {"attn_decode", 4}, {"attn_decode_mla", 3},
      {"mla_absorb", 2}, {"rms_norm", 2}, {"add", 2}, {"silu_mul", 2}, {"rope", 3}, {"quant_fp8", 2},
      {"topk_softmax", 3}, {"topk_sigmoid_grouped", 3}, {"permute", 3}, {"unpermute", 3}};
  const auto it = axes.find(op);
  if (it == axes.end()) throw InputError(fmt::format("unknown op \"{}\"", op));
  if (c.size() != it->second) throw InputError(fmt::format("op \"{}\" takes {} coordinates, got {}", op, it->second, c.size()));
  if ((op == "topk_softmax" || op == "topk_sigmoid_grouped") && c[2] > c[1])
    throw InputError(fmt::format("op \"{}\": top_k ({}) must not exceed the experts ({})", op, c[2], c[1]));
  OpCost w;
  w.kernels = 1;
  if (op == "gemm" || op == "gemm_fp8") {
    const double eb = op == "gemm" ? 2.0 : 1.0;
    w.flops = 2.0 * c[0] * c[1] * c[2];
    w.bytes = (c[0] * c[2] + c[1] * c[2]) * eb + c[0] * c[1] * 2.0;
    w.dtype = op == "gemm" ? Dtype::Bf16 : Dtype::Fp8;
  } else if (op == "attn_prefill") {  // seq, batch x heads, head_dim
    w.flops = 2.0 * c[1] * c[0] * c[0] * c[2];
    w.bytes = 4.0 * c[1] * c[0] * c[2] * 2.0;
  } else if (op == "attn_prefill_mla") {  // seq, batch x heads; qk 192, v 128
    w.flops = c[1] * c[0] * c[0] * (192.0 + 128.0);
    w.bytes = c[1] * c[0] * (2 * 192.0 + 2 * 128.0) * 2.0;
  } else if (op == "attn_decode") {  // batch, context, kv heads, group; head_dim 128
    w.flops = 4.0 * c[0] * c[1] * c[2] * c[3] * 128.0;
    w.bytes = c[0] * c[1] * 2.0 * c[2] * 128.0 * 2.0;
  } else if (op == "attn_decode_mla") {  // batch, context, heads; latent 512 + 64
    w.flops = 2.0 * c[0] * c[1] * c[2] * (2 * 512.0 + 64.0);
    w.bytes = c[0] * c[1] * 576.0 * 2.0;
  } else if (op == "mla_absorb") {  // tokens, heads
    w.flops = 2.0 * c[0] * c[1] * 256.0 * 512.0;
    w.bytes = c[1] * 256.0 * 512.0 * 2.0 + c[0] * c[1] * 1024.0 * 2.0;
  } else if (op == "rope") {
    w.bytes = c[0] * c[1] * c[2] * 4.0 * 2.0;
  } else if (op == "topk_softmax" || op == "topk_sigmoid_grouped") {
    w.bytes = c[0] * c[1] * 3.0 * 4.0;
  } else if (op == "permute") {
    w.bytes = (c[0] * c[1] * c[2] + c[0] * c[2]) * 2.0;
  } else if (op == "unpermute") {
    w.bytes = c[0] * c[1] * c[2] * 3.0 * 2.0;
  } else {  // rms_norm, add, silu_mul, quant_fp8: rows x width, a few passes
    w.bytes = c[0] * c[1] * 3.0 * 2.0;
  }
  if (w.flops == 0) w.flops = w.bytes;
  return w;
}

}  // namespace moesim
