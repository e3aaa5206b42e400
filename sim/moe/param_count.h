// Parameter counts of an MoE model, per component and in total, derived from its ModelConfig.
#pragma once
#include <cstdint>

#include "sim/moe/model_config.h"

namespace moesim {

// All counts are numbers of weights (not bytes). FFNs and experts are SwiGLU: gate, up and
// down projections, 3 * hidden * intermediate, no biases.
struct ParamCount {
  int64_t embedding = 0;                 // vocab x hidden input table
  int64_t lm_head = 0;                   // vocab x hidden output projection; 0 when tied
  int64_t attention_per_layer = 0;       // projections (+ biases, + MLA's two latent RMSNorms)
  int64_t dense_ffn_per_layer = 0;       // FFN of one dense (non-MoE) layer
  int64_t routed_expert = 0;             // ONE routed expert
  int64_t shared_experts_per_layer = 0;  // all shared experts of one MoE layer (+ their gate)
  int64_t router_per_layer = 0;          // gate weight (+ per-expert bias) of one MoE layer
  int64_t norms_total = 0;               // two RMSNorms per layer plus the final norm
  int64_t num_dense_layers = 0;
  int64_t num_moe_layers = 0;
  int64_t total = 0;
  // Parameters one token touches: everything except the routed experts it is not sent to.
  // Convention: both the embedding table and lm_head count in full, although a token reads
  // only one embedding row. This is the convention of the published "activated" figures
  // (DeepSeek-V3's README_WEIGHTS.md counts 0.9B embedding + 0.9B head in its 36.7B; Mistral's
  // 12.9B for Mixtral reproduces only with both), so `active` is comparable with them.
  // Subtract `embedding` for the weights a decode step actually streams from HBM.
  int64_t active = 0;
};

ParamCount count_params(const ModelConfig& model);

}  // namespace moesim
