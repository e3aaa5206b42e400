#include "sim/scenario/scenario.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <future>
#include <tuple>

#include "sim/base/process_memo.h"
#include "sim/network/comm_buffers.h"
#include "sim/network/topology_registry.h"
#include "sim/scenario/data_paths.h"

namespace moesim {
namespace {

// The cluster's topology; a layout the generator cannot wire is an input error at $.cluster.
Topology build_topology(const ExperimentConfig& cfg) {
  try {
    return Topology::build(cfg.cluster.topology, cfg.hardware);
  } catch (const std::invalid_argument& e) {
    throw input_error(cfg.file, "$.cluster", e.what());
  }
}

}  // namespace

namespace {

// Builds with `build`; an InputError inside `file` (a file the experiment names at `key`) gets
// the experiment's file and key in front of it, so that the user sees which key brought the file
// in. Errors that name the key already, or not the file, are left alone.
template <typename F>
void at_key(const std::string& experiment_file, const std::string& file, const char* key, F&& build) {
  try {
    build();
  } catch (const InputError& e) {
    const std::string what = e.what();
    if (file.empty() || what.find(key) != std::string::npos || what.find(file) == std::string::npos) throw;
    throw input_error(experiment_file, key, what);
  }
}

}  // namespace

Scenario::Scenario(ExperimentConfig config, int setup_threads)
    : cfg_(std::move(config)),
      params_(count_params(cfg_.model)),
      stages_(make_stage_layout(cfg_.parallel.pipeline_stages, cfg_.cluster.devices(), cfg_.model.num_layers)),
      topology_(build_topology(cfg_)) {
  const auto& topo_entry = *topology_registry().find(cfg_.cluster.topology.generator);
  a2a_ = &resolve_a2a(cfg_.moe.all_to_all, topo_entry.traits, cfg_.workload.phase == WorkloadPhase::Decode, cfg_.cluster.topology.nodes);
  a2a_bytes_ = a2a_unit_bytes(a2a_->traits, {cfg_.model.hidden_size, cfg_.model.moe.top_k, cfg_.moe.dispatch_dtype, cfg_.moe.combine_dtype});
  // DeepEP's normal kernels take schedule.comm_compute_units SMs (0: DeepEP's default).
  a2a_kernel_.sms = cfg_.schedule.comm_compute_units > 0 ? cfg_.schedule.comm_compute_units : kDeepEpDefaultSms;
  a2a_kernel_.ranks = cfg_.parallel.expert_parallel;
  a2a_kernel_.device_sms = cfg_.hardware.compute_units;
  if (a2a_->traits.kernel == A2aKernel::DeepEpNormal && cfg_.schedule.comm_compute_units > 0 && cfg_.schedule.comm_compute_units % 2 != 0)
    throw input_error(cfg_.file, "$.schedule.comm_compute_units", "DeepEP's normal kernels run one channel per 2 SMs: give an even number");
  if (is_deepep(a2a_->traits.kernel) && cfg_.schedule.overlap != OverlapSchedule::None && cfg_.schedule.comm_compute_units == 0)
    throw input_error(cfg_.file, "$.schedule.comm_compute_units",
                      "an overlapped DeepEP kernel runs on SMs that compute then lacks: give at least 2 (DeepEP's default is 24)");
  a2a_kernel_.experts = cfg_.model.moe.num_experts + cfg_.placement.redundant_experts;
  a2a_kernel_.top_k = cfg_.model.moe.top_k;
  cost_ctx_.model = &cfg_.model;
  cost_ctx_.tensor_parallel = cfg_.parallel.attention_tensor_parallel;
  cost_ctx_.weight_bytes_per_elem = dtype_bytes(cfg_.memory.weight_dtype);
  cost_ctx_.expert_weight_bytes_per_elem = dtype_bytes(cfg_.memory.expert_weight_dtype);
  cost_ctx_.kv_bytes_per_elem = dtype_bytes(cfg_.memory.kv_cache_dtype);
  cost_ctx_.expert_dtype = cfg_.moe.expert_compute_dtype;
  cost_ctx_.expert_tensor_parallel = cfg_.parallel.expert_tensor_parallel;
  std::future<void> cost_model;
  if (setup_threads > 1) {
    cost_model = std::async(std::launch::async, [this] { build_cost_model(); });
  } else {
    build_cost_model();
  }
  std::exception_ptr later_error;
  try {
    at_key(cfg_.file, cfg_.routing.file, "$.routing.file", [&] { routing_ = make_routing_source(cfg_.routing, routing_inputs(cfg_)); });
    at_key(cfg_.file, cfg_.placement.file, "$.placement.file", [&] { build_placements(); });
  } catch (...) {
    if (!cost_model.valid()) throw;
    later_error = std::current_exception();
  }
  if (cost_model.valid()) cost_model.get();  // its error first, as when built in order
  if (later_error) std::rethrow_exception(later_error);
}


SimTime Scenario::a2a_latency(A2aPhase phase) const {
  if (cfg_.moe.all_to_all_latency) return *cfg_.moe.all_to_all_latency;
  if (is_deepep(a2a_->traits.kernel)) return kernel_floor(a2a_->traits.kernel, phase, cfg_.model.hidden_size);
  return cfg_.hardware.collective_latency;
}

void Scenario::build_cost_model() {
  DeviceCostOptions o;
  o.expert_backend = cfg_.compute.expert_backend;
  o.allow_extrapolation = cfg_.compute.allow_extrapolation;
  o.expert_dtype = cfg_.moe.expert_compute_dtype;
  o.comm_overlapped = cfg_.schedule.overlap != OverlapSchedule::None;
  o.comm_compute_units = cfg_.schedule.comm_compute_units;
  o.data_dir = data_dir();
  try {
    cost_ = std::make_unique<DeviceCostModel>(cfg_.hardware, o);
  } catch (const CostSourceError& e) {
    throw input_error(cfg_.file, "$.compute.expert_backend", e.what());
  }
}

namespace {

constexpr size_t kMaxCachedPlacements = 64;

// Everything a placement policy's factory reads (PlacementRequest) and which layers are MoE.
struct PlacementKey {
  uintptr_t factory;
  PlacementRequest req;
  std::vector<bool> layer_is_moe;
  auto fields() const {
    return std::tie(factory, req.num_experts, req.expert_parallel, req.redundant_experts, req.ranks_per_node, req.num_groups, req.layer_loads,
                    req.physical_to_logical, layer_is_moe);
  }
  bool operator<(const PlacementKey& o) const { return fields() < o.fields(); }
};

}  // namespace

void Scenario::build_placements() {
  const auto& policy = *placement_registry().find(cfg_.placement.policy);
  const auto& m = cfg_.model;
  PlacementRequest req;
  req.num_experts = m.moe.num_experts;
  req.expert_parallel = cfg_.parallel.expert_parallel;
  req.redundant_experts = cfg_.placement.redundant_experts;
  req.ranks_per_node = std::min(cfg_.parallel.expert_parallel, cfg_.cluster.topology.devices_per_node);
  req.num_groups = m.moe.num_groups;
  if (policy.traits.needs_loads) {
    req.layer_loads.resize(m.num_layers);
    for (int64_t l = 0; l < m.num_layers; ++l)
      if (m.layer_is_moe[l]) req.layer_loads[l] = routing_->expected_load(l);
  }
  if (policy.traits.needs_file)
    req.physical_to_logical = load_placement_file(cfg_.placement.file, m.layer_is_moe, m.moe.num_experts, m.moe.num_experts + cfg_.placement.redundant_experts,
                                                  cfg_.parallel.expert_parallel);
  // A pure function of the request: sweep points that differ elsewhere share one placement.
  static ProcessMemo<PlacementKey, std::vector<LayerPlacement>> memo(kMaxCachedPlacements);
  PlacementKey key{reinterpret_cast<uintptr_t>(policy.factory), req, m.layer_is_moe};
  placements_ = memo.get(std::move(key), [&] {
    std::vector<LayerPlacement> out(m.num_layers);
    for (int64_t l = 0; l < m.num_layers; ++l) {
      if (!m.layer_is_moe[l]) continue;
      try {
        out[l] = policy.factory(req, l);
      } catch (const std::invalid_argument& e) {
        throw input_error(cfg_.file, "$.placement", e.what());
      }
    }
    return out;
  });
}

MemoryInputs Scenario::memory_inputs() const {
  MemoryInputs in;
  in.model = &cfg_.model;
  in.parallel = &cfg_.parallel;
  in.workload = &cfg_.workload;
  in.moe = &cfg_.moe;
  in.memory = &cfg_.memory;
  in.overlap = cfg_.schedule.overlap;
  in.devices = cfg_.cluster.devices();
  in.dispatch_unit_bytes = a2a_bytes_.dispatch_counted;
  in.combine_unit_bytes = a2a_bytes_.combine;
  const auto& m = cfg_.model;
  if (cfg_.parallel.expert_parallel == 1) {
    // No all-to-all, so no DeepEP buffers (layer_pass.cpp).
  } else if (a2a_->traits.kernel == A2aKernel::DeepEpNormal) {
    in.a2a_buffers.preallocated_bytes = deepep_normal_buffer_bytes(a2a_kernel_.sms, cfg_.parallel.expert_parallel, m.hidden_size);
  } else if (a2a_->traits.kernel == A2aKernel::DeepEpLowLatency) {
    in.a2a_buffers.fixed_per_expert = true;
    in.a2a_buffers.max_tokens_per_rank = std::max(kLowLatencyDefaultMaxTokensPerRank, cfg_.workload.tokens_per_device);
    in.a2a_buffers.preallocated_bytes = deepep_low_latency_buffer_bytes(in.a2a_buffers.max_tokens_per_rank, m.hidden_size,
                                                                   m.moe.num_experts + cfg_.placement.redundant_experts);
  }
  return in;
}

}  // namespace moesim
