#include "sim/moe/memory_model.h"

#include <algorithm>
#include <cmath>

#include "sim/moe/dispatch_plan.h"
#include "sim/moe/layer_costs.h"

namespace moesim {

StageLayout make_stage_layout(const ExperimentConfig& c) {
  StageLayout s;
  s.stages = c.parallel.pipeline_stages;
  s.devices_per_stage = c.cluster.devices() / s.stages;
  const int64_t L = c.model.num_layers;
  s.stage_of_layer.resize(L);
  // Earlier stages take one extra layer each while L does not divide evenly.
  const int64_t base = L / s.stages, extra = L % s.stages;
  int64_t l = 0;
  for (int64_t st = 0; st < s.stages; ++st)
    for (int64_t i = 0; i < base + (st < extra ? 1 : 0); ++i) s.stage_of_layer[l++] = st;
  return s;
}

double dispatch_token_bytes(const ExperimentConfig& c) {
  const double H = static_cast<double>(c.model.hidden_size);
  double b = H * dtype_bytes(c.moe.dispatch_dtype);
  if (c.moe.dispatch_dtype == "fp8") b += std::ceil(H / 128.0) * 4.0;  // one fp32 scale per 128 values
  b += static_cast<double>(c.model.moe.top_k) * (4.0 + 4.0);          // int32 expert ids + fp32 weights
  return b;
}

double combine_token_bytes(const ExperimentConfig& c) { return static_cast<double>(c.model.hidden_size) * dtype_bytes(c.moe.combine_dtype); }

std::vector<HbmLedger> device_memory(const ExperimentConfig& c, const ParamCount& p, const StageLayout& stages,
                                     const std::vector<LayerPlacement>& placements) {
  const auto& m = c.model;
  const int64_t D = c.cluster.devices(), EP = c.parallel.expert_parallel, tp = c.parallel.attention_tensor_parallel;
  const double wb = dtype_bytes(c.memory.weight_dtype), ewb = dtype_bytes(c.memory.expert_weight_dtype);
  const bool training = c.workload.phase == WorkloadPhase::Training;
  const double T = static_cast<double>(c.workload.tokens_per_device);
  const double H = static_cast<double>(m.hidden_size), F = static_cast<double>(m.moe.expert_intermediate_size);
  const double K = static_cast<double>(m.moe.top_k);
  const bool overlap = c.schedule.overlap != OverlapSchedule::None;
  // Two-microbatch keeps two micro-batches where there was one; fwd-bwd-overlap starts micro-batch
  // i's forward before i-1's backward has freed its activations: one more in flight.
  const bool pairs = c.schedule.overlap == OverlapSchedule::TwoMicroBatch;
  const bool fwd_bwd = c.schedule.overlap == OverlapSchedule::FwdBwdOverlap;
  std::vector<HbmLedger> out(D);
  for (int64_t d = 0; d < D; ++d) {
    const int64_t stage = stages.stage_of_device(d);
    const int64_t etp = c.parallel.expert_tensor_parallel;
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
    h.add("weights", dense_params * wb + expert_params * ewb);
    h.add("redundant_expert_weights", redundant_params * ewb);
    const double M = static_cast<double>(c.workload.micro_batches);
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
      const int64_t dp = c.parallel.attention_data_parallel;
      const int64_t edp = D / (EP * etp * stages.stages);
      h.add("gradients", params * dtype_bytes(c.memory.grad_dtype));
      const double zero_dense = c.memory.zero_stage >= 1 ? static_cast<double>(dp) : 1.0;
      const double zero_expert = c.memory.zero_stage >= 1 ? static_cast<double>(std::max<int64_t>(edp, 1)) : 1.0;
      h.add("optimizer_state", 12.0 * (dense_params / zero_dense + (expert_params + redundant_params) / zero_expert));
      double per_token = 0;
      for (int64_t l = 0; l < m.num_layers; ++l)
        if (stages.stage_of_layer[l] == stage) per_token += attn_saved + (m.layer_is_moe[l] ? moe_saved : dense_saved);
      h.add("activations", per_token * T * 2.0 * micro_in_flight);
    } else {
      h.add("activations", (attn_saved + std::max(moe_saved, dense_saved)) * T * 2.0 * micro_in_flight);
      const double kv_tokens = T * static_cast<double>(c.workload.micro_batches) *
                               (c.workload.phase == WorkloadPhase::Decode ? static_cast<double>(c.workload.context_length) : 1.0);
      const double kv_shard = m.attention.kind == AttentionKind::Mla ? 1.0 : static_cast<double>(tp);
      h.add("kv_cache", kv_tokens * kv_bytes_per_token_layer(m, dtype_bytes(c.memory.kv_cache_dtype)) * static_cast<double>(layers) / kv_shard);
    }
    if (moe_layers > 0) {
      // Dispatch/combine buffers per micro-batch in flight. Receive side: dropless must hold the
      // worst case (every token of the group arrives once); with a capacity factor, the capacity
      // slots of the local experts. Send side: each token to at most min(top_k, EP) devices.
      const double slots_here = static_cast<double>(placements[std::find(m.layer_is_moe.begin(), m.layer_is_moe.end(), true) - m.layer_is_moe.begin()].rank_slots[0].size());
      const double recv_tokens = c.moe.capacity_factor
                                     ? slots_here * static_cast<double>(EP) *
                                           static_cast<double>(expert_capacity(*c.moe.capacity_factor, c.workload.tokens_per_device, m.moe.top_k, m.moe.num_experts))
                                     : static_cast<double>(EP) * T;
      const double send_tokens = T * std::min<double>(K, static_cast<double>(EP));
      const double per_mb = (recv_tokens + send_tokens) * (dispatch_token_bytes(c) + combine_token_bytes(c));
      h.add("a2a_buffers", per_mb * (overlap ? 2.0 : 1.0));
    }
    h.add("workspace", c.memory.workspace_bytes);
  }
  return out;
}

}  // namespace moesim
