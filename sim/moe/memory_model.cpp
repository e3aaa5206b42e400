#include "sim/moe/memory_model.h"

#include <algorithm>
#include <cmath>

#include "sim/moe/dispatch_plan.h"
#include "sim/moe/layer_costs.h"

namespace moesim {

std::vector<HbmLedger> device_memory(const MemoryInputs& in, const ParamCount& p, const StageLayout& stages,
                                     const std::vector<LayerPlacement>& placements) {
  const auto& m = *in.model;
  const auto& par = *in.parallel;
  const auto& wl = *in.workload;
  const auto& mem = *in.memory;
  const int64_t D = in.devices, EP = par.expert_parallel, tp = par.attention_tensor_parallel;
  const double wb = dtype_bytes(mem.weight_dtype), ewb = dtype_bytes(mem.expert_weight_dtype);
  const bool training = wl.phase == WorkloadPhase::Training;
  const double T = static_cast<double>(wl.tokens_per_device);
  const double H = static_cast<double>(m.hidden_size), F = static_cast<double>(m.moe.expert_intermediate_size);
  const double K = static_cast<double>(m.moe.top_k);
  const bool overlap = in.overlap != OverlapSchedule::None;
  // Two-microbatch keeps two micro-batches where there was one; fwd-bwd-overlap starts micro-batch
  // i's forward before i-1's backward has freed its activations: one more in flight.
  const bool pairs = in.overlap == OverlapSchedule::TwoMicroBatch;
  const bool fwd_bwd = in.overlap == OverlapSchedule::FwdBwdOverlap;
  std::vector<HbmLedger> out(D);
  for (int64_t d = 0; d < D; ++d) {
    const int64_t stage = stages.stage_of_device(d);
    const int64_t etp = par.expert_tensor_parallel;
    const int64_t rank = (d % (EP * etp)) / etp;
    double dense_params = 0, expert_params = 0, redundant_params = 0;
    int64_t layers = 0, moe_layers = 0;
    for (int64_t l = 0; l < m.num_layers; ++l) {
      if (stages.stage_of_layer[l] != stage) continue;
      ++layers;
      dense_params += static_cast<double>(p.attention_per_layer) / static_cast<double>(tp);
      if (!m.layer_is_moe[l]) {
        dense_params += static_cast<double>(p.dense_ffn_per_layer) / static_cast<double>(tp);
        continue;
      }
      ++moe_layers;
      dense_params += static_cast<double>(p.shared_experts_per_layer + p.router_per_layer);
      const auto& slots = placements[l].rank_slots[rank];
      for (int32_t e : slots) {
        // The lowest rank holding an expert owns its primary copy; other copies are redundant.
        const bool primary = placements[l].expert_ranks[e][0] == rank;
        (primary ? expert_params : redundant_params) += static_cast<double>(p.routed_expert) / static_cast<double>(etp);
      }
    }
    if (stage == 0) dense_params += static_cast<double>(p.embedding) / static_cast<double>(tp);
    if (stage == stages.stages - 1) dense_params += static_cast<double>(p.lm_head) / static_cast<double>(tp);
    dense_params += static_cast<double>(p.norms_total) * static_cast<double>(layers) / static_cast<double>(m.num_layers);

    HbmLedger& h = out[d];
    h.add(HbmCategory::Weights, dense_params * wb + expert_params * ewb);
    h.add(HbmCategory::RedundantExpertWeights, redundant_params * ewb);
    const double M = static_cast<double>(wl.micro_batches);
    const double micro_in_flight =
        training ? (fwd_bwd ? std::min(M, static_cast<double>(stages.stages - stage) + 1.0)
                            : std::min(M, static_cast<double>(stages.stages - stage)) * (pairs ? 2.0 : 1.0))
                 : (pairs ? 2.0 : 1.0);
    // Per token per layer: attention block inputs/outputs kept for backward (bf16, flash
    // attention keeps no score matrix), and per routed copy the expert input, gate/up outputs and
    // activation output.
    const double moe_saved = H + K * (H + 3.0 * F) + (m.moe.num_shared_experts ? H + 3.0 * m.moe.shared_expert_intermediate_size * m.moe.num_shared_experts : 0.0);
    const double dense_saved = H + 3.0 * static_cast<double>(m.dense_intermediate_size) / static_cast<double>(tp);
    const double attn_saved = 6.0 * H;
    if (training) {
      const double params = dense_params + expert_params + redundant_params;
      const int64_t dp = par.attention_data_parallel;
      const int64_t edp = D / (EP * etp * stages.stages);
      h.add(HbmCategory::Gradients, params * dtype_bytes(mem.grad_dtype));
      const double zero_dense = mem.zero_stage >= 1 ? static_cast<double>(dp) : 1.0;
      const double zero_expert = mem.zero_stage >= 1 ? static_cast<double>(std::max<int64_t>(edp, 1)) : 1.0;
      h.add(HbmCategory::OptimizerState, kAdamStateBytesPerParam * (dense_params / zero_dense + (expert_params + redundant_params) / zero_expert));
      double per_token = 0;
      for (int64_t l = 0; l < m.num_layers; ++l)
        if (stages.stage_of_layer[l] == stage) per_token += attn_saved + (m.layer_is_moe[l] ? moe_saved : dense_saved);
      h.add(HbmCategory::Activations, per_token * T * 2.0 * micro_in_flight);
    } else {
      h.add(HbmCategory::Activations, (attn_saved + std::max(moe_saved, dense_saved)) * T * 2.0 * micro_in_flight);
      const double kv_tokens = T * static_cast<double>(wl.micro_batches) *
                               (wl.phase == WorkloadPhase::Decode ? static_cast<double>(wl.context_length) : 1.0);
      const double kv_shard = m.attention.kind == AttentionKind::Mla ? 1.0 : static_cast<double>(tp);
      h.add(HbmCategory::KvCache, kv_tokens * kv_bytes_per_token_layer(m, dtype_bytes(mem.kv_cache_dtype)) * static_cast<double>(layers) / kv_shard);
    }
    if (moe_layers > 0) {
      // Dispatch/combine buffers per micro-batch in flight. Receive side: dropless must hold the
      // worst case (every token of the group arrives once); with a capacity factor, the capacity
      // slots of the local experts. Send side: each token to at most min(top_k, EP) devices.
      const double slots_here = static_cast<double>(placements[std::find(m.layer_is_moe.begin(), m.layer_is_moe.end(), true) - m.layer_is_moe.begin()].rank_slots[0].size());
      const double recv_tokens = in.moe->capacity_factor
                                     ? slots_here * static_cast<double>(EP) *
                                           static_cast<double>(expert_capacity(*in.moe->capacity_factor, wl.tokens_per_device, m.moe.top_k, m.moe.num_experts))
                                     : static_cast<double>(EP) * T;
      const double send_tokens = T * std::min<double>(K, static_cast<double>(EP));
      const double per_mb = (recv_tokens + send_tokens) * (in.dispatch_unit_bytes + in.combine_unit_bytes);
      h.add(HbmCategory::A2aBuffers, per_mb * (overlap ? 2.0 : 1.0));
    }
    h.add(HbmCategory::Workspace, mem.workspace_bytes);
  }
  return out;
}

}  // namespace moesim
