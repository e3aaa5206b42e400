// FLOPs and HBM bytes of the pieces of a transformer MoE layer for a batch of tokens on one
// device: attention (GQA/MHA or DeepSeek's MLA), router, routed experts as one grouped SwiGLU
// block over the device's per-expert token counts, shared experts, dense FFN and LM head.
// Forward-pass figures; a backward pass costs twice the FLOPs (gradients of inputs and weights).
#pragma once
#include <cstdint>
#include <vector>

#include "sim/hardware/roofline.h"
#include "sim/moe/model_config.h"

namespace moesim {

struct CostContext {
  const ModelConfig* model = nullptr;
  int64_t tensor_parallel = 1;     // attention tensor parallelism
  double weight_bytes_per_elem = 2;  // attention / dense / shared weights
  double expert_weight_bytes_per_elem = 2;
  double kv_bytes_per_elem = 2;
  double act_bytes_per_elem = 2;     // activations (bf16)
  Dtype expert_dtype = Dtype::Bf16;
  int64_t expert_tensor_parallel = 1;  // expert intermediate dimension split over this many devices
};

// Attention for `tokens` tokens that each attend to `context` earlier positions on average
// (prefill: (sequence_length + 1) / 2; decode: the KV length). Reads KV when `read_kv_tokens` > 0.
OpCost attention_cost(const CostContext& c, int64_t tokens, double context, double read_kv_tokens);
OpCost router_cost(const CostContext& c, int64_t tokens);
OpCost expert_block_cost(const CostContext& c, const std::vector<int64_t>& slot_tokens);
OpCost shared_expert_cost(const CostContext& c, int64_t tokens);
OpCost dense_ffn_cost(const CostContext& c, int64_t tokens);
OpCost lm_head_cost(const CostContext& c, int64_t tokens);
// KV-cache bytes per token per layer (MLA caches the compressed latent and the rope key).
double kv_bytes_per_token_layer(const ModelConfig& m, double kv_bytes);
// What one GPU's KV cache is divided by under attention tensor parallelism `tp`: MLA's latent is
// whole on every GPU (1); GQA splits its KV heads over at most kv_heads GPUs, and with more GPUs
// than KV heads each GPU keeps one head (vLLM QKVParallelLinear, SGLang likewise replicate):
// min(tp, kv_heads).
double kv_shard_count(const ModelConfig& m, int64_t tp);
OpCost scaled(OpCost op, double factor);

}  // namespace moesim
