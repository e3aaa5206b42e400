// A serving engine's memory pools and the KV cache capacity that follows from them (the
// experiment's `runtime` section). Both engines fix a share of the GPU's memory at start-up and
// preallocate the KV cache from what their weights leave of it:
//   SGLang: the static pool is mem_fraction_static x the memory free at start-up (after the CUDA
//     context and communicators); it holds the weights and the KV cache pool (everything the
//     weights leave); activations, communication buffers, workspace and CUDA graphs must fit in
//     the rest, or the engine runs out of memory at run time
//     (python/sglang/srt/model_executor/model_runner.py: rest_memory = free after the weights -
//     free at start x (1 - mem_fraction_static); tokens = rest_memory / one token's KV bytes over
//     every layer; MLA keeps kv_lora_rank + rope dims per layer, not divided by TP).
//   vLLM: the engine may use gpu_memory_utilization x the GPU's memory; a profiling pass measures
//     the peak of weights, activations and non-torch memory, CUDA graphs are added, and the KV
//     cache gets what is left (vllm/v1/worker/gpu_worker.py determine_available_memory).
// Defaults: SGLang's mem_fraction_static by tensor-parallel size (0.88 for 1, 0.87 for 2, 0.85 for
// 4, 0.81 for 8, 0.79 for 16 or more: python/sglang/srt/server_args.py before its 2025 rewrite by
// GPU memory); vLLM's gpu_memory_utilization 0.9 (EngineArgs). The GPU's memory is the profile's
// capacity; what is used before the weights load (CUDA context, NCCL communicators) is the
// profile's hbm_reserved.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "sim/moe/hbm_ledger.h"

namespace moesim {

enum class ServingFramework { None, Sglang, Vllm };

struct RuntimeMemoryConfig {
  ServingFramework framework = ServingFramework::None;
  std::optional<double> static_fraction;  // SGLang mem_fraction_static / vLLM gpu_memory_utilization
  double cuda_graph_bytes = 0;            // what the captured CUDA graphs hold
};

// One device's pools, in bytes.
struct ServingMemory {
  double gpu_bytes = 0;            // the GPU's memory (the profile's capacity)
  double reserved_bytes = 0;       // used before the weights load (context, communicators)
  double static_fraction = 0;
  double static_pool_bytes = 0;    // SGLang: weights + KV pool; vLLM: everything the engine may use
  double kv_pool_bytes = 0;        // preallocated KV cache (0 when nothing is left)
  double kv_bytes_per_token = 0;   // every layer the device holds
  double kv_capacity_tokens = 0;
  double kv_needed_bytes = 0;      // the workload's KV cache
  double dynamic_bytes = 0;        // activations, all-to-all buffers, workspace, CUDA graphs
  double dynamic_limit_bytes = 0;  // what they may take
  bool fits = true;
  std::string limit;               // "" when it fits, else what does not
};

double default_static_fraction(ServingFramework framework, int64_t tensor_parallel);

// `ledger`: the device's bytes by category (weights, the KV cache the workload needs, activations,
// buffers, workspace); `kv_bytes_per_token`: one token's KV over every layer the device holds.
ServingMemory serving_memory(const RuntimeMemoryConfig& runtime, int64_t tensor_parallel, const HbmLedger& ledger, double gpu_bytes,
                             double reserved_bytes, double kv_bytes_per_token);

}  // namespace moesim
