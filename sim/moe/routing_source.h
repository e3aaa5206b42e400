// Where each token's top-k experts come from, per (MoE layer, micro-batch, device): a synthetic
// distribution (uniform, Zipf), per-token draws from real per-layer expert counts, or replay of
// a per-token trace. Sources are registered with a description and a citation.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/app/registry.h"
#include "sim/io/json_reader.h"

namespace moesim {

struct ExperimentConfig;

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

using RoutingFactory = std::unique_ptr<RoutingSource> (*)(const ExperimentConfig&);
const Registry<RoutingFactory>& routing_registry();
std::unique_ptr<RoutingSource> make_routing_source(const ExperimentConfig& config);

// Expert popularity of a Zipf law with exponent s over a seeded per-layer permutation of the
// experts (so that different layers have different hot experts).
std::vector<double> zipf_weights(int64_t experts, double exponent, uint64_t seed, int64_t layer);

}  // namespace moesim
