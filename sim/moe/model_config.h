// An MoE model's architecture as read from models/<name>.json: the figures that decide FLOPs,
// bytes moved, parameter counts and HBM. Sources of each figure are kept in the JSON file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/io/json_reader.h"

namespace moesim {

enum class AttentionKind { Mha, Gqa, Mla };
// RMSNorm of queries and keys before rotary: per head over head_dim (Qwen3) or over the whole
// projection width (OLMoE).
enum class QkNorm { None, PerHead, FullWidth };

struct AttentionConfig {
  AttentionKind kind = AttentionKind::Gqa;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;   // GQA/MHA
  int64_t head_dim = 0;       // GQA/MHA
  // MLA (DeepSeek-V2/V3): low-rank query and key/value projections.
  int64_t q_lora_rank = 0;    // 0 = queries projected directly from hidden
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool qkv_bias = false;
  QkNorm qk_norm = QkNorm::None;  // GQA/MHA
};


struct MoeConfig {
  int64_t num_experts = 0;                 // routed experts
  int64_t top_k = 0;
  int64_t expert_intermediate_size = 0;    // per routed expert (SwiGLU: gate, up, down)
  int64_t num_shared_experts = 0;
  int64_t shared_expert_intermediate_size = 0;  // per shared expert
  int64_t num_groups = 1;                  // expert groups for group-limited routing
  int64_t topk_groups = 1;                 // groups a token may use
  bool gate_bias = false;                  // a per-expert bias term (DeepSeek-V3's correction bias)
  bool shared_expert_gate = false;         // a sigmoid gate on the shared expert (Qwen2-MoE)
};

struct ModelConfig {
  std::string name;
  std::string description;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  std::vector<bool> layer_is_moe;          // size num_layers
  int64_t vocab_size = 0;
  bool tie_word_embeddings = false;
  int64_t dense_intermediate_size = 0;     // FFN of dense layers (0 when there are none)
  AttentionConfig attention;
  MoeConfig moe;
  Json source_json;                        // the file as read, for the resolved config

  int64_t num_moe_layers() const;
};

// Reads and validates a model object (file name and JSON path in every error).
ModelConfig parse_model(const JsonValue& value);
ModelConfig load_model_file(const std::string& path);

}  // namespace moesim
