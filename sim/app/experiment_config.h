// An experiment: which model on which hardware, how the cluster is laid out and parallelised,
// what workload runs, where routing comes from and how MoE dispatch behaves. Parsed from
// experiments/*.json (after --set overrides), validated, with model and hardware resolved.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "sim/hardware/hardware_profile.h"
#include "sim/io/json_reader.h"
#include "sim/moe/model_config.h"

namespace moesim {

struct ClusterConfig {
  int64_t nodes = 1;
  int64_t devices_per_node = 8;
  int64_t nics_per_node = 8;
  std::string topology = "nvswitch-fat-tree";   // a generator in topology_registry()
  double oversubscription = 1.0;                 // rail-fat-tree, fat-tree
  int64_t spines = 0;                            // 0 = generator default
  int64_t nodes_per_leaf = 0;                    // 0 = generator default
  double peer_bandwidth_Bps = 0;                 // hccs-mesh-roce; 0 = derived from the profile
  std::string network_model = "bottleneck";      // "bottleneck" | "flow"
  double flow_tolerance = 1e-3;                  // flow model: finish flows due within this share together
  int64_t devices() const { return nodes * devices_per_node; }
};

struct ParallelConfig {
  int64_t expert_parallel = 1;
  int64_t expert_tensor_parallel = 1;   // each expert's weights split over this many devices
  int64_t attention_tensor_parallel = 1;
  int64_t pipeline_stages = 1;
  int64_t attention_data_parallel = 1;  // derived: devices / (tp * pp)
};

struct PlacementConfig {
  std::string policy = "contiguous";
  int64_t redundant_experts = 0;
  std::string file;             // for policy "file": resolved path
  std::string file_as_written;
};

enum class WorkloadPhase { Training, Prefill, Decode };

struct WorkloadConfig {
  WorkloadPhase phase = WorkloadPhase::Prefill;
  int64_t tokens_per_device = 4096;  // per micro-batch, per attention-DP rank
  int64_t micro_batches = 1;
  int64_t sequence_length = 4096;    // prefill/training: tokens per sequence (causal attention span)
  int64_t context_length = 4096;     // decode: KV-cache length per sequence
};

struct RoutingConfig {
  std::string source = "synthetic";   // synthetic | counts | trace
  std::string distribution = "zipf";  // synthetic: uniform | zipf
  double zipf_exponent = 1.0;
  uint64_t seed = 1;
  std::string file;                   // counts or trace file, resolved path
  std::string file_as_written;
  bool group_limited = true;          // apply the model's group-limited routing to sampled routing
};

enum class DispatchMode { Dropless, Padded };
enum class DropPolicy { Arrival, LowestWeight };

struct MoeRunConfig {
  std::optional<double> capacity_factor;  // none = dropless
  DispatchMode dispatch_mode = DispatchMode::Dropless;
  DropPolicy drop_policy = DropPolicy::Arrival;
  std::string dispatch_dtype = "bf16";    // bf16 | fp8
  std::string combine_dtype = "bf16";
  std::string expert_compute_dtype = "bf16";  // dtype of expert GEMMs (bf16 | fp8)
  // All-to-all algorithm (a2a_registry()); "auto": hccl-hierarchical on an HCCS mesh,
  // deepep-low-latency for decode across nodes, deepep-normal otherwise.
  std::string all_to_all = "auto";
};

// none | two-microbatch (DeepSeek inference) | fwd-bwd-overlap (training, DualPipe-style pairs of a
// forward and a backward chunk); sim/app/step_graph.cpp says how each is issued.
enum class OverlapSchedule { None, TwoMicroBatch, FwdBwdOverlap };
const char* overlap_name(OverlapSchedule s);

struct ScheduleConfig {
  OverlapSchedule overlap = OverlapSchedule::None;
  int64_t comm_compute_units = 24;  // SMs a communication kernel takes from compute while overlapped
};

struct MemoryConfig {
  std::string weight_dtype = "bf16";      // attention, dense and shared weights
  std::string expert_weight_dtype = "bf16";
  std::string kv_cache_dtype = "bf16";
  std::string grad_dtype = "fp32";        // training
  int64_t zero_stage = 1;                 // 0 or 1: optimizer state sharded over data parallel
  double workspace_bytes = 1073741824.0;  // framework workspace (cuBLAS, allocator slack)
};

struct ComputeConfig {
  // Expert-block cost: "auto" (the device's measured torch-grouped-mm table for the dtype, else
  // its cublas-grouped one, extrapolated beyond the grid; the roofline without a table), "roofline", or a calibrated backend name ("cublas-grouped",
  // "torch-grouped-mm"), which must then cover every query unless allow_extrapolation is set.
  std::string expert_backend = "auto";
  bool allow_extrapolation = false;
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
  ComputeConfig compute;
  CostConfig cost;
  Json resolved;  // the experiment with model and hardware inlined and defaults filled
};

// Loads an experiment file, applies "--set path=value" overrides, validates everything.
ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});
ExperimentConfig parse_experiment(const JsonDocument& doc);

double dtype_bytes(const std::string& dtype);
const char* phase_name(WorkloadPhase p);

}  // namespace moesim
