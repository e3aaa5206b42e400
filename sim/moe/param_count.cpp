#include "sim/moe/param_count.h"

namespace moesim {

namespace {

int64_t attention_params(const AttentionConfig& a, int64_t h) {
  if (a.kind == AttentionKind::Mla) {
    const int64_t qk_head = a.qk_nope_head_dim + a.qk_rope_head_dim;
    // Queries: hidden -> q_lora_rank (+ RMSNorm) -> heads x qk_head, or hidden -> heads x qk_head.
    const int64_t q = a.q_lora_rank > 0
                          ? h * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * a.num_heads * qk_head
                          : h * a.num_heads * qk_head;
    // Keys/values: hidden -> kv_lora_rank latent + shared rope key, RMSNorm on the latent,
    // latent -> heads x (nope key + value).
    const int64_t kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank +
                       a.kv_lora_rank * a.num_heads * (a.qk_nope_head_dim + a.v_head_dim);
    const int64_t o = a.num_heads * a.v_head_dim * h;
    return q + kv + o;
  }
  const int64_t q_dim = a.num_heads * a.head_dim;
  const int64_t kv_dim = a.num_kv_heads * a.head_dim;
  const int64_t weights = h * q_dim + 2 * h * kv_dim + q_dim * h;
  return weights + (a.qkv_bias ? q_dim + 2 * kv_dim : 0);
}

}  // namespace

ParamCount count_params(const ModelConfig& m) {
  const int64_t h = m.hidden_size;
  const MoeConfig& e = m.moe;
  ParamCount p;
  p.embedding = m.vocab_size * h;
  p.lm_head = m.tie_word_embeddings ? 0 : m.vocab_size * h;
  p.attention_per_layer = attention_params(m.attention, h);
  p.dense_ffn_per_layer = 3 * h * m.dense_intermediate_size;
  p.routed_expert = 3 * h * e.expert_intermediate_size;
  p.shared_experts_per_layer =
      e.num_shared_experts * 3 * h * e.shared_expert_intermediate_size + (e.shared_expert_gate ? h : 0);
  p.router_per_layer = e.num_experts * h + (e.gate_bias ? e.num_experts : 0);
  p.norms_total = m.num_layers * 2 * h + h;
  p.num_moe_layers = m.num_moe_layers();
  p.num_dense_layers = m.num_layers - p.num_moe_layers;

  const int64_t common = p.embedding + p.lm_head + m.num_layers * p.attention_per_layer +
                         p.num_dense_layers * p.dense_ffn_per_layer +
                         p.num_moe_layers * (p.shared_experts_per_layer + p.router_per_layer) + p.norms_total;
  p.total = common + p.num_moe_layers * e.num_experts * p.routed_expert;
  p.active = common + p.num_moe_layers * e.top_k * p.routed_expert;
  return p;
}

}  // namespace moesim
