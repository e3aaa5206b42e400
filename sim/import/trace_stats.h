// Summary statistics of routing data, for `moesim trace stats`: per stored layer the tokens,
// (token, expert) assignments, per-expert load and its max/mean; for per-token traces the
// affinity between consecutive stored layers; optionally the device load of a placement.
//
// Affinity (layer l against the stored layer before it), from the joint counts n(a, b) of
// (expert a at the previous layer, expert b at layer l) over N tokens, using each token's top-1
// expert (highest gate weight, else the first id); for counts files, from `pair_counts`
// ("A->B", every top-k choice paired by rank) when present:
//   mi_bits            mutual information I(A; B) in bits with the Miller-Madow bias correction
//                      (minus (cells - rows - cols + 1) / (2 N ln 2), non-zero cells), floored
//                      at 0; 0 means the layers route independently, log2(E) is the maximum;
//   top1_successor_hit the share of tokens whose expert at l is the most frequent successor of
//                      their expert at the previous layer, sum_a max_b n(a, b) / N: how often a
//                      prefetcher that knows the previous layer's choice would guess right;
//   top1_successor_hit_independent  what independence predicts for it: max_b n(., b) / N.
// Both are in-sample: with few tokens per (a, b) cell they overstate the affinity.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moesim {

struct LayerAffinity {
  int64_t from_layer = 0;
  std::string basis;  // "top-1" | "pair_counts"
  double mi_bits = 0, hit = 0, hit_independent = 0;
};

struct LayerStats {
  int64_t layer = 0;
  int64_t tokens = -1;  // -1 when unknown (counts without top_k)
  double assignments = 0;
  std::vector<double> loads;  // per expert
  std::optional<LayerAffinity> affinity;
  std::optional<double> device_load_max_over_mean;
  bool moe() const { return assignments > 0; }
  double load_max_over_mean() const;
};

struct RoutingStats {
  std::string file, kind, model, source;  // kind: "trace" | "counts"
  int64_t num_experts = 0, top_k = 0, tokens = -1;
  std::vector<LayerStats> layers;
};

struct StatsPlacement {
  std::string policy;
  int64_t devices = 0, redundant = 0, devices_per_node = 8, groups = 1;
};

// Reads a .npz trace (zip magic) or a counts JSON (anything else); InputError on bad input.
RoutingStats routing_stats(const std::string& path);

nlohmann::json stats_to_json(const RoutingStats& stats, const StatsPlacement* placement);
std::string stats_to_text(const RoutingStats& stats, const StatsPlacement* placement);

}  // namespace moesim
