// An experiment: which model on which hardware, how the cluster is laid out and parallelised,
// what workload runs, where routing comes from and how MoE dispatch behaves. Parsed from
// experiments/*.json (after --set overrides), validated, with model and hardware resolved.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/hardware/hardware_profile.h"
#include "sim/io/json_reader.h"
#include "sim/moe/memory_model.h"
#include "sim/moe/model_config.h"
#include "sim/moe/moe_run_config.h"
#include "sim/moe/parallel_layout.h"
#include "sim/moe/routing_source.h"
#include "sim/moe/serving_memory.h"
#include "sim/moe/workload.h"
#include "sim/network/cluster_config.h"

namespace moesim {

struct PlacementConfig {
  std::string policy = "contiguous";  // a name in placement_registry()
  int64_t redundant_experts = 0;
  std::string file;             // for policy "file": resolved path
  std::string file_as_written;
};

enum class LaunchMode { Graph, Eager };

struct ComputeConfig {
  // Expert-block cost backend, a name in expert_backend_registry() (sim/hardware/expert_backends.h);
  // a named measured backend must cover every query unless allow_extrapolation is set.
  std::string expert_backend = "auto";
  bool allow_extrapolation = false;
  // How the framework launches a layer's kernels: replayed from a CUDA graph (each op costs its GPU
  // time) or eagerly from Python (the host issues op after op; the GPU waits when the host is slower).
  LaunchMode launch_mode = LaunchMode::Graph;
};

struct CostConfig {
  double price_per_device_hour = 0;  // USD; 0 = take the hardware profile's price_per_hour
  std::string source;                // where the price comes from
};

struct ExperimentConfig {
  std::string file;
  std::string name;
  std::string description;
  ModelConfig model;
  HardwareProfile hardware;
  ClusterConfig cluster;
  ParallelConfig parallel;
  PlacementConfig placement;
  WorkloadConfig workload;
  RoutingConfig routing;
  MoeRunConfig moe;
  ScheduleConfig schedule;
  MemoryConfig memory;
  RuntimeMemoryConfig runtime;  // the serving engine's memory pools (sim/moe/serving_memory.h)
  ComputeConfig compute;
  CostConfig cost;
  Json resolved;  // the experiment with model and hardware inlined and defaults filled
};

// Loads an experiment file, applies "--set path=value" overrides, validates everything.
ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});
ExperimentConfig parse_experiment(const JsonDocument& doc);

// What the experiment's routing source is built from.
inline RoutingInputs routing_inputs(const ExperimentConfig& e) {
  return {&e.model, e.cluster.devices(), e.workload.micro_batches, e.workload.tokens_per_device};
}


}  // namespace moesim
