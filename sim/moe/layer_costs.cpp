#include "sim/moe/layer_costs.h"

#include <algorithm>

namespace moesim {
namespace {

double attention_weight_params(const ModelConfig& m) {
  const auto& a = m.attention;
  const double H = static_cast<double>(m.hidden_size);
  if (a.kind == AttentionKind::Mla) {
    const double qk = static_cast<double>(a.qk_nope_head_dim + a.qk_rope_head_dim);
    const double q = a.q_lora_rank > 0 ? H * a.q_lora_rank + static_cast<double>(a.q_lora_rank) * a.num_heads * qk : H * a.num_heads * qk;
    const double kv = H * (a.kv_lora_rank + a.qk_rope_head_dim) + static_cast<double>(a.kv_lora_rank) * a.num_heads * (a.qk_nope_head_dim + a.v_head_dim);
    const double o = static_cast<double>(a.num_heads) * a.v_head_dim * H;
    return q + kv + o;
  }
  return H * (a.num_heads + 2.0 * a.num_kv_heads) * a.head_dim + static_cast<double>(a.num_heads) * a.head_dim * H;
}

}  // namespace

OpCost scaled(OpCost op, double f) {
  op.flops *= f;
  op.bytes *= f;
  return op;
}

double kv_bytes_per_token_layer(const ModelConfig& m, double kv_bytes) {
  const auto& a = m.attention;
  if (a.kind == AttentionKind::Mla) return static_cast<double>(a.kv_lora_rank + a.qk_rope_head_dim) * kv_bytes;
  return 2.0 * a.num_kv_heads * a.head_dim * kv_bytes;
}

double kv_shard_count(const ModelConfig& m, int64_t tp) {
  if (m.attention.kind == AttentionKind::Mla) return 1.0;
  return static_cast<double>(std::max<int64_t>(1, std::min(tp, m.attention.num_kv_heads)));
}

OpCost attention_cost(const CostContext& c, int64_t tokens, double context, double read_kv_tokens) {
  const auto& m = *c.model;
  const auto& a = m.attention;
  const double T = static_cast<double>(tokens), H = static_cast<double>(m.hidden_size), tp = static_cast<double>(c.tensor_parallel);
  const double params = attention_weight_params(m);
  double score_flops_per_pos;  // per token per attended position, all heads
  if (a.kind == AttentionKind::Mla) {
    // Decode runs MLA "absorbed" (scores against the latent); prefill materialises K and V.
    score_flops_per_pos = read_kv_tokens > 0 ? 2.0 * a.num_heads * (2.0 * a.kv_lora_rank + a.qk_rope_head_dim)
                                             : 2.0 * a.num_heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim);
  } else {
    score_flops_per_pos = 2.0 * a.num_heads * 2.0 * a.head_dim;
  }
  OpCost op;
  op.flops = (2.0 * params * T + score_flops_per_pos * context * T) / tp;
  op.bytes = params * c.weight_bytes_per_elem / tp + 4.0 * T * H * c.act_bytes_per_elem +
             read_kv_tokens * kv_bytes_per_token_layer(m, c.kv_bytes_per_elem) / kv_shard_count(m, c.tensor_parallel);
  op.kernels = 6;
  return op;
}

OpCost router_cost(const CostContext& c, int64_t tokens) {
  const auto& m = *c.model;
  OpCost op;
  const double T = static_cast<double>(tokens), H = static_cast<double>(m.hidden_size), E = static_cast<double>(m.moe.num_experts);
  op.flops = 2.0 * T * H * E;
  op.bytes = H * E * c.weight_bytes_per_elem + T * H * c.act_bytes_per_elem + T * E * 4.0;
  op.kernels = 2;
  return op;
}

OpCost expert_block_cost(const CostContext& c, const std::vector<int64_t>& slot_tokens) {
  const auto& m = *c.model;
  const double F = static_cast<double>(m.moe.expert_intermediate_size) / static_cast<double>(c.expert_tensor_parallel);
  return grouped_swiglu_cost(m.hidden_size, F, c.expert_dtype, c.expert_weight_bytes_per_elem, c.act_bytes_per_elem, slot_tokens);
}

OpCost shared_expert_cost(const CostContext& c, int64_t tokens) {
  const auto& m = *c.model;
  OpCost op;
  if (m.moe.num_shared_experts == 0) {
    op.kernels = 0;
    return op;
  }
  const double T = static_cast<double>(tokens), H = static_cast<double>(m.hidden_size);
  const double F = static_cast<double>(m.moe.shared_expert_intermediate_size * m.moe.num_shared_experts);
  op.flops = 6.0 * T * H * F;
  op.bytes = 3.0 * H * F * c.weight_bytes_per_elem + T * (2.0 * H + 6.0 * F) * c.act_bytes_per_elem;
  op.kernels = 3;
  return op;
}

OpCost dense_ffn_cost(const CostContext& c, int64_t tokens) {
  const auto& m = *c.model;
  const double T = static_cast<double>(tokens), H = static_cast<double>(m.hidden_size);
  const double F = static_cast<double>(m.dense_intermediate_size), tp = static_cast<double>(c.tensor_parallel);
  OpCost op;
  op.flops = 6.0 * T * H * F / tp;
  op.bytes = 3.0 * H * F * c.weight_bytes_per_elem / tp + T * (2.0 * H + 6.0 * F / tp) * c.act_bytes_per_elem;
  op.kernels = 3;
  return op;
}

OpCost lm_head_cost(const CostContext& c, int64_t tokens) {
  const auto& m = *c.model;
  const double T = static_cast<double>(tokens), H = static_cast<double>(m.hidden_size), V = static_cast<double>(m.vocab_size);
  const double tp = static_cast<double>(c.tensor_parallel);
  OpCost op;
  op.flops = 2.0 * T * H * V / tp;
  op.bytes = H * V * c.weight_bytes_per_elem / tp + T * (H + V / tp) * c.act_bytes_per_elem;
  op.kernels = 2;
  return op;
}

}  // namespace moesim
