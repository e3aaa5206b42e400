#include "sim/moe/model_config.h"

#include <fmt/format.h>

namespace moesim {

int64_t ModelConfig::num_moe_layers() const {
  int64_t n = 0;
  for (bool m : layer_is_moe) n += m ? 1 : 0;
  return n;
}

namespace {

AttentionConfig parse_attention(const JsonValue& v) {
  auto o = v.as_object();
  AttentionConfig a;
  const std::string type = o.required("type").as_choice({"mha", "gqa", "mla"});
  a.num_heads = o.required("num_heads").as_positive_int();
  if (type == "mla") {
    a.kind = AttentionKind::Mla;
    if (auto q = o.optional("q_lora_rank")) a.q_lora_rank = q->as_int(0, 1 << 20);
    a.kv_lora_rank = o.required("kv_lora_rank").as_positive_int();
    a.qk_nope_head_dim = o.required("qk_nope_head_dim").as_positive_int();
    a.qk_rope_head_dim = o.required("qk_rope_head_dim").as_positive_int();
    a.v_head_dim = o.required("v_head_dim").as_positive_int();
  } else {
    a.kind = type == "mha" ? AttentionKind::Mha : AttentionKind::Gqa;
    a.head_dim = o.required("head_dim").as_positive_int();
    a.num_kv_heads = type == "mha" ? a.num_heads : o.required("num_kv_heads").as_positive_int();
    if (a.num_heads % a.num_kv_heads != 0)
      o.self().fail(fmt::format("num_heads ({}) must be a multiple of num_kv_heads ({})", a.num_heads, a.num_kv_heads));
    if (auto b = o.optional("qkv_bias")) a.qkv_bias = b->as_bool();
    if (auto q = o.optional("qk_norm")) {
      const std::string n = q->as_choice({"none", "per_head", "full_width"});
      a.qk_norm = n == "per_head" ? QkNorm::PerHead : n == "full_width" ? QkNorm::FullWidth : QkNorm::None;
    }
  }
  o.finish();
  return a;
}

MoeConfig parse_moe(const JsonValue& v) {
  auto o = v.as_object();
  MoeConfig m;
  m.num_experts = o.required("num_experts").as_int(1, 1 << 20);
  m.top_k = o.required("top_k").as_positive_int();
  if (m.top_k > m.num_experts)
    o.self().fail(fmt::format("top_k ({}) must not exceed num_experts ({})", m.top_k, m.num_experts));
  m.expert_intermediate_size = o.required("expert_intermediate_size").as_positive_int();
  if (auto s = o.optional("num_shared_experts")) m.num_shared_experts = s->as_int(0, 64);
  if (m.num_shared_experts > 0)
    m.shared_expert_intermediate_size = o.required("shared_expert_intermediate_size").as_positive_int();
  else
    o.optional("shared_expert_intermediate_size");
  if (auto g = o.optional("num_groups")) m.num_groups = g->as_int(1, 256);
  if (auto g = o.optional("topk_groups")) m.topk_groups = g->as_positive_int();
  if (m.num_experts % m.num_groups != 0)
    o.self().fail(fmt::format("num_experts ({}) must be a multiple of num_groups ({})", m.num_experts, m.num_groups));
  if (m.topk_groups > m.num_groups)
    o.self().fail(fmt::format("topk_groups ({}) must not exceed num_groups ({})", m.topk_groups, m.num_groups));
  if (m.topk_groups * (m.num_experts / m.num_groups) < m.top_k)
    o.self().fail("topk_groups x experts per group must be at least top_k");
  if (auto b = o.optional("gate_bias")) m.gate_bias = b->as_bool();
  if (auto b = o.optional("shared_expert_gate")) m.shared_expert_gate = b->as_bool();
  // The router's scoring function and top-k renormalisation are facts of the model that change
  // neither the router's cost nor the routing moesim samples or replays (traces carry their own
  // weights): checked and echoed, not used.
  if (auto g = o.optional("gating")) g->as_choice({"softmax", "sigmoid"});
  if (auto b = o.optional("norm_topk_prob")) b->as_bool();
  o.finish();
  return m;
}

}  // namespace

ModelConfig parse_model(const JsonValue& value) {
  auto o = value.as_object();
  ModelConfig m;
  m.source_json = value.raw();
  m.name = o.required("name").as_string();
  if (auto d = o.optional("description")) m.description = d->as_string();
  if (auto s = o.optional("sources")) s->as_string_map();
  if (auto p = o.optional("published")) {
    auto po = p->as_object();
    po.required("total_params").as_number(1, 1e15);
    po.required("active_params").as_number(1, 1e15);
    po.required("source").as_string();
    po.finish();
  }
  // Published models use 2,048 to 16,384 (DeepSeek-V3 7,168; Llama-3.1-405B 16,384); beyond 2^20 a
  // token's activation alone would be megabytes.
  m.hidden_size = o.required("hidden_size").as_int(1, INT64_C(1) << 20);
  m.num_layers = o.required("num_layers").as_int(1, 10000);
  const int64_t first_dense = o.optional("first_dense_layers") ? o.required("first_dense_layers").as_int(0, m.num_layers) : 0;
  const int64_t interval = o.optional("moe_layer_interval") ? o.required("moe_layer_interval").as_int(1, m.num_layers) : 1;
  m.layer_is_moe.resize(m.num_layers);
  for (int64_t l = 0; l < m.num_layers; ++l)
    m.layer_is_moe[l] = l >= first_dense && (l - first_dense) % interval == interval - 1;
  m.vocab_size = o.required("vocab_size").as_positive_int();
  if (auto t = o.optional("tie_word_embeddings")) m.tie_word_embeddings = t->as_bool();
  if (auto d = o.optional("dense_intermediate_size")) m.dense_intermediate_size = d->as_int(0, INT64_C(1) << 40);
  if (m.num_moe_layers() < m.num_layers && m.dense_intermediate_size == 0)
    o.self().fail("the model has dense layers, so dense_intermediate_size is required");
  m.attention = parse_attention(o.required("attention"));
  m.moe = parse_moe(o.required("moe"));
  o.finish();
  // A bound on the size, in floating point, so that exact integer counts downstream cannot overflow.
  const auto& a = m.attention;
  const double H = static_cast<double>(m.hidden_size), L = static_cast<double>(m.num_layers);
  const double attn = H * static_cast<double>(a.num_heads) * static_cast<double>(a.head_dim + a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim) * 4.0 +
                      H * static_cast<double>(a.q_lora_rank + a.kv_lora_rank) * 2.0 +
                      static_cast<double>(a.q_lora_rank + a.kv_lora_rank) * static_cast<double>(a.num_heads) * 1024.0;
  const double ffn = 3.0 * H * (static_cast<double>(m.moe.num_experts) * static_cast<double>(m.moe.expert_intermediate_size) +
                                static_cast<double>(m.moe.num_shared_experts) * static_cast<double>(m.moe.shared_expert_intermediate_size) +
                                static_cast<double>(m.dense_intermediate_size));
  const double total = L * (attn + ffn) + 2.0 * H * static_cast<double>(m.vocab_size);
  if (total > 1e15) value.fail(fmt::format("implausible model: about {:.3g} parameters (more than 1e15); check the sizes", total));
  return m;
}

ModelConfig load_model_file(const std::string& path) {
  const auto doc = JsonDocument::load_file(path);
  return parse_model(doc.root());
}

}  // namespace moesim
