// Where each token's top-k experts come from, per (MoE layer, micro-batch, device): a synthetic
// distribution (uniform, Zipf, or DeepEP's benchmark gate), per-token draws from real per-layer
// expert counts, or replay of a per-token trace. Sources are registered with a description and a
// citation; the experiment's `routing` section picks one.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/base/registry.h"
#include "sim/io/json_reader.h"
#include "sim/moe/model_config.h"

namespace moesim {

// The experiment's `routing` section.
struct RoutingConfig {
  std::string source = "synthetic";   // a name in routing_registry()
  std::string distribution = "zipf";  // synthetic: uniform | zipf | deepep-bench
  double zipf_exponent = 1.0;
  uint64_t seed = 1;
  std::string file;                   // counts or trace file, resolved path
  std::string file_as_written;
  bool group_limited = true;          // apply the model's group-limited routing to sampled routing
  // MoE layers drawn and planned per pipeline stage; the others replay one of them (an
  // approximation, for sampled routing: docs/planned-layers.md). 0: every layer (exact).
  int64_t planned_layers = 0;
};

// What a source needs besides its section: the model and the shape of the step.
struct RoutingInputs {
  const ModelConfig* model = nullptr;
  int64_t devices = 1;
  int64_t micro_batches = 1;
  int64_t tokens_per_device = 1;
};

// The routing of one device's micro-batch at one layer: tokens x top_k expert ids (and gate
// weights when the source knows them).
struct RoutingBatch {
  int64_t tokens = 0;
  int top_k = 0;
  std::vector<int32_t> experts;
  std::vector<float> weights;  // empty when unknown
};

class RoutingSource {
 public:
  virtual ~RoutingSource() = default;
  // Fills `out` with the routing of `tokens` tokens of `device` in micro-batch `micro_batch` at
  // model layer `layer` (an MoE layer).
  virtual void fill(int64_t layer, int64_t micro_batch, int64_t device, int64_t tokens, RoutingBatch& out) const = 0;
  // Facts for the report (e.g. how a trace's tokens were mapped to devices).
  virtual Json summary() const = 0;
  // Relative load of each expert at model layer `layer` (any positive scale), for load-aware
  // placement: the distribution a sampled source draws from, or a trace's own counts.
  virtual std::vector<double> expected_load(int64_t layer) const = 0;
};

struct RoutingTraits {
  bool needs_file = false;  // reads RoutingConfig::file
};

using RoutingFactory = std::unique_ptr<RoutingSource> (*)(const RoutingConfig&, const RoutingInputs&);
using RoutingRegistry = Registry<RoutingFactory, RoutingTraits>;
const RoutingRegistry& routing_registry();
// Throws std::invalid_argument for a source not in the registry (names are checked when the
// experiment is read) and InputError for a bad counts or trace file.
std::unique_ptr<RoutingSource> make_routing_source(const RoutingConfig& config, const RoutingInputs& inputs);

// Expert popularity of a Zipf law with exponent s over a seeded per-layer permutation of the
// experts (so that different layers have different hot experts).
std::vector<double> zipf_weights(int64_t experts, double exponent, uint64_t seed, int64_t layer);

}  // namespace moesim
