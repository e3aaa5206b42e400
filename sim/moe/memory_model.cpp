#include "sim/moe/memory_model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "sim/moe/dispatch_plan.h"
#include "sim/moe/layer_costs.h"
#include "sim/moe/layer_liveness.h"

namespace moesim {

namespace {

// The parameters one device holds, by kind, and the layers of its pipeline stage.
struct DeviceParams {
  double dense = 0, expert = 0, redundant = 0;
  int64_t layers = 0, moe_layers = 0;
};

DeviceParams device_params(const MemoryInputs& in, const ParamCount& p, const StageLayout& stages,
                           const std::vector<LayerPlacement>& placements, int64_t stage, int64_t rank) {
  const auto& m = *in.model;
  const int64_t tp = in.parallel->attention_tensor_parallel;
  const int64_t etp = in.parallel->expert_tensor_parallel;
  DeviceParams n;
  for (int64_t l = 0; l < m.num_layers; ++l) {
    if (stages.stage_of_layer[l] != stage) continue;
    ++n.layers;
    n.dense += static_cast<double>(p.attention_per_layer) / static_cast<double>(tp);
    if (!m.layer_is_moe[l]) {
      n.dense += static_cast<double>(p.dense_ffn_per_layer) / static_cast<double>(tp);
      continue;
    }
    ++n.moe_layers;
    n.dense += static_cast<double>(p.shared_experts_per_layer + p.router_per_layer);
    const auto& slots = placements[l].rank_slots[rank];
    for (int32_t e : slots) {
      // The lowest rank holding an expert owns its primary copy; other copies are redundant.
      const bool primary = placements[l].expert_ranks[e][0] == rank;
      (primary ? n.expert : n.redundant) += static_cast<double>(p.routed_expert) / static_cast<double>(etp);
    }
  }
  if (stage == 0) n.dense += static_cast<double>(p.embedding) / static_cast<double>(tp);
  if (stage == stages.stages - 1) n.dense += static_cast<double>(p.lm_head) / static_cast<double>(tp);
  n.dense += static_cast<double>(p.norms_total) * static_cast<double>(n.layers) / static_cast<double>(m.num_layers);
  return n;
}

// Training: micro-batches whose saved activations a device of `stage` holds at once under 1F1B
// (stages - stage). Two-microbatch keeps two micro-batches where there was one; fwd-bwd-overlap
// starts micro-batch i's forward before i-1's backward has freed its activations: one more.
double micro_batches_in_flight(const MemoryInputs& in, const StageLayout& stages, int64_t stage) {
  const bool pairs = in.overlap == OverlapSchedule::TwoMicroBatch;
  const bool fwd_bwd = in.overlap == OverlapSchedule::FwdBwdOverlap;
  const double M = static_cast<double>(in.workload->micro_batches);
  const double one_f_one_b = std::min(M, static_cast<double>(stages.stages - stage));
  return fwd_bwd ? std::min(M, one_f_one_b + 1.0) : one_f_one_b * (pairs ? 2.0 : 1.0);
}

// Bytes per token per layer kept for backward or in flight: attention block inputs/outputs
// (bf16, flash attention keeps no score matrix), and per routed copy the expert input, gate/up
// outputs and activation output.
struct SavedPerToken {
  double moe = 0, dense = 0, attn = 0;
};

SavedPerToken saved_per_token(const ModelConfig& m, int64_t tp) {
  const double H = static_cast<double>(m.hidden_size), F = static_cast<double>(m.moe.expert_intermediate_size);
  const double K = static_cast<double>(m.moe.top_k);
  SavedPerToken s;
  s.moe = H + K * (H + 3.0 * F) + (m.moe.num_shared_experts ? H + 3.0 * m.moe.shared_expert_intermediate_size * m.moe.num_shared_experts : 0.0);
  s.dense = H + 3.0 * static_cast<double>(m.dense_intermediate_size) / static_cast<double>(tp);
  s.attn = 6.0 * H;
  return s;
}

// Training: gradients, optimizer state (ZeRO-1 sharded) and the activations saved for backward.
void add_training_memory(HbmLedger& h, const MemoryInputs& in, const StageLayout& stages, const DeviceParams& n, int64_t stage,
                         double micro_in_flight) {
  const auto& m = *in.model;
  const auto& par = *in.parallel;
  const auto& mem = *in.memory;
  const SavedPerToken saved = saved_per_token(m, par.attention_tensor_parallel);
  const double params = n.dense + n.expert + n.redundant;
  const int64_t dp = par.attention_data_parallel;
  const int64_t edp = in.devices / (par.expert_parallel * par.expert_tensor_parallel * stages.stages);
  h.add(HbmCategory::Gradients, params * dtype_bytes(mem.grad_dtype));
  const double zero_dense = mem.zero_stage >= 1 ? static_cast<double>(dp) : 1.0;
  const double zero_expert = mem.zero_stage >= 1 ? static_cast<double>(std::max<int64_t>(edp, 1)) : 1.0;
  h.add(HbmCategory::OptimizerState, kAdamStateBytesPerParam * (n.dense / zero_dense + (n.expert + n.redundant) / zero_expert));
  // Without recomputation every layer keeps its set; with full recomputation each layer keeps its
  // input (H per token) and the layer being recomputed in backward holds its set once.
  const double T = static_cast<double>(in.workload->tokens_per_device);
  double per_token = 0, largest_layer = 0;
  for (int64_t l = 0; l < m.num_layers; ++l) {
    if (stages.stage_of_layer[l] != stage) continue;
    const double layer = saved.attn + (m.layer_is_moe[l] ? saved.moe : saved.dense);
    per_token += mem.recompute_full ? static_cast<double>(m.hidden_size) : layer;
    largest_layer = std::max(largest_layer, layer);
  }
  const double recomputed = mem.recompute_full ? largest_layer * T * 2.0 : 0.0;
  h.add(HbmCategory::Activations, per_token * T * 2.0 * micro_in_flight + recomputed);
}

// Inference: the KV cache of the stage's layers.
void add_kv_cache(HbmLedger& h, const MemoryInputs& in, const DeviceParams& n) {
  const auto& m = *in.model;
  const auto& wl = *in.workload;
  const int64_t tp = in.parallel->attention_tensor_parallel;
  const double T = static_cast<double>(wl.tokens_per_device);
  const double kv_tokens = T * static_cast<double>(wl.micro_batches) *
                           (wl.phase == WorkloadPhase::Decode ? static_cast<double>(wl.context_length) : 1.0);
  const double kv_shard = kv_shard_count(m, tp);
  h.add(HbmCategory::KvCache,
        kv_tokens * kv_bytes_per_token_layer(m, dtype_bytes(in.memory->kv_cache_dtype)) * static_cast<double>(n.layers) / kv_shard);
}

// What one device receives in MoE layer l: the layer pass's busiest micro-batch, DeepEP low
// latency's fixed shape, or (no routing) every token of the EP group once.
ReceivedTokens received_tokens(const MemoryInputs& in, const LayerPlacement& p, int64_t l, int64_t d, int64_t rank) {
  const auto& m = *in.model;
  const int64_t EP = in.parallel->expert_parallel, T = in.workload->tokens_per_device;
  const auto slots = static_cast<int64_t>(p.rank_slots[rank].size());
  if (in.a2a_buffers.fixed_per_expert) {
    const int64_t fixed = slots * EP * in.a2a_buffers.max_tokens_per_rank;
    return {fixed, fixed};
  }
  if (in.received) return (*in.received)[l][d];
  return {EP * T, EP * T * std::min<int64_t>(m.moe.top_k, slots)};
}

// The transient peak of the device's layers (layer_liveness.h) under the run's schedule.
PeakLive transient_peak(const MemoryInputs& in, const StageLayout& stages, const std::vector<LayerPlacement>& placements, int64_t stage,
                        int64_t d, int64_t rank) {
  const auto& m = *in.model;
  LayerLivenessInput li;
  li.model = &m;
  li.attention_tp = in.parallel->attention_tensor_parallel;
  li.expert_tp = in.parallel->expert_tensor_parallel;
  li.decode = in.workload->phase == WorkloadPhase::Decode;
  li.tokens = static_cast<double>(in.workload->tokens_per_device);
  li.dispatch_elem_bytes = in.dispatch_unit_bytes / static_cast<double>(m.hidden_size);
  li.combine_elem_bytes = in.combine_unit_bytes / static_cast<double>(m.hidden_size);
  PeakLive best;
  for (int64_t l = 0; l < m.num_layers; ++l) {
    if (stages.stage_of_layer[l] != stage) continue;
    if (m.layer_is_moe[l]) {
      const ReceivedTokens r = received_tokens(in, placements[l], l, d, rank);
      li.recv_rows = static_cast<double>(r.rows);
      li.recv_copies = static_cast<double>(r.copies);
    }
    const PeakLive p = peak_liveness(m.layer_is_moe[l] ? moe_layer_liveness(li) : dense_layer_liveness(li), in.overlap);
    if (p.live.total() > best.live.total()) best = {"layer " + std::to_string(l) + ": " + p.op, p.live};
  }
  return best;
}

}  // namespace

std::vector<HbmLedger> device_memory(const MemoryInputs& in, const ParamCount& p, const StageLayout& stages,
                                     const std::vector<LayerPlacement>& placements) {
  const auto& par = *in.parallel;
  const auto& mem = *in.memory;
  const int64_t D = in.devices, EP = par.expert_parallel;
  const double wb = dtype_bytes(mem.weight_dtype), ewb = dtype_bytes(mem.expert_weight_dtype);
  const bool training = in.workload->phase == WorkloadPhase::Training;
  std::vector<HbmLedger> out(D);
  for (int64_t d = 0; d < D; ++d) {
    const int64_t stage = stages.stage_of_device(d);
    const int64_t etp = par.expert_tensor_parallel;
    const int64_t rank = (d % (EP * etp)) / etp;
    const DeviceParams n = device_params(in, p, stages, placements, stage, rank);
    HbmLedger& h = out[d];
    h.add(HbmCategory::Weights, n.dense * wb + n.expert * ewb);
    h.add(HbmCategory::RedundantExpertWeights, n.redundant * ewb);
    if (training) add_training_memory(h, in, stages, n, stage, micro_batches_in_flight(in, stages, stage));
    else add_kv_cache(h, in, n);
    const PeakLive peak = transient_peak(in, stages, placements, stage, d, rank);
    h.add(HbmCategory::Activations, peak.live.activations);
    h.add(HbmCategory::A2aBuffers, peak.live.a2a + (n.moe_layers > 0 ? in.a2a_buffers.preallocated_bytes : 0.0));
    h.add(HbmCategory::Workspace, mem.workspace_bytes);
    h.set_peak_op(peak.op);
  }
  return out;
}

}  // namespace moesim
