// DeepSeek's expert-parallel load balancer (EPLB), re-implemented from its published description
// (github.com/deepseek-ai/EPLB, README): the hierarchical policy packs whole expert groups onto
// nodes so that group-limited routing stays node-local, replicates the heaviest experts inside
// each node into the redundant slots, and balances the copies over the node's GPUs; the global
// policy replicates and packs over all GPUs, ignoring groups. Both balance by the per-copy load
// (an expert's load split evenly over its copies) with heaviest-first packing onto the least
// loaded bin that has room.
#include <algorithm>
#include <numeric>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/moe/placement.h"

namespace moesim {
namespace {

std::vector<double> loads_of(const PlacementRequest& r, int64_t layer) {
  if (!r.layer_loads.empty() && !r.layer_loads.at(layer).empty()) return r.layer_loads[layer];
  return std::vector<double>(r.num_experts, 1.0);
}

// Gives `extra` additional copies, one at a time, to the expert with the most load per copy
// (ties: the earliest in `experts`). A set ordered by (load per copy, position) finds it.
std::vector<int64_t> replicate(const std::vector<int32_t>& experts, const std::vector<double>& load, int64_t extra) {
  std::vector<int64_t> copies(experts.size(), 1);
  auto per_copy = [&](size_t j) { return load[experts[j]] / static_cast<double>(copies[j]); };
  auto before = [](const std::pair<double, size_t>& a, const std::pair<double, size_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::set<std::pair<double, size_t>, decltype(before)> order(before);
  for (size_t j = 0; j < experts.size(); ++j) order.insert({per_copy(j), j});
  for (int64_t i = 0; i < extra && !order.empty(); ++i) {
    const size_t best = order.begin()->second;
    order.erase(order.begin());
    ++copies[best];
    order.insert({per_copy(best), best});
  }
  return copies;
}

// Packs the copies of `experts` onto `ranks` (each with `per_rank` slots), heaviest copy first
// onto the least-loaded rank that has room (ties: the earliest in `ranks`) and, where possible,
// no copy of the same expert. The ranks with room are kept ordered by (load, position).
void pack(const std::vector<int32_t>& experts, const std::vector<int64_t>& copies, const std::vector<double>& load,
          const std::vector<int64_t>& ranks, int64_t per_rank, LayerPlacement& p) {
  struct Copy {
    double load;
    int32_t expert;
  };
  std::vector<Copy> all;
  for (size_t j = 0; j < experts.size(); ++j)
    for (int64_t c = 0; c < copies[j]; ++c) all.push_back({load[experts[j]] / static_cast<double>(copies[j]), experts[j]});
  std::stable_sort(all.begin(), all.end(), [](const Copy& a, const Copy& b) { return a.load > b.load; });
  std::vector<double> rank_load(ranks.size(), 0.0);
  std::set<std::pair<double, size_t>> open;  // (load, position in ranks) of ranks with room
  for (size_t k = 0; k < ranks.size(); ++k)
    if (static_cast<int64_t>(p.rank_slots[ranks[k]].size()) < per_rank) open.insert({0.0, k});
  for (const Copy& c : all) {
    if (open.empty()) throw std::logic_error("eplb: more copies than slots");
    auto best = open.begin();  // without a copy of this expert if any rank with room has none
    for (auto it = open.begin(); it != open.end(); ++it) {
      const auto& slots = p.rank_slots[ranks[it->second]];
      if (std::find(slots.begin(), slots.end(), c.expert) == slots.end()) {
        best = it;
        break;
      }
    }
    const size_t k = best->second;
    open.erase(best);
    auto& slots = p.rank_slots[ranks[k]];
    slots.push_back(c.expert);
    rank_load[k] += c.load;
    if (static_cast<int64_t>(slots.size()) < per_rank) open.insert({rank_load[k], k});
  }
}

}  // namespace

LayerPlacement eplb_global(const PlacementRequest& r, int64_t layer) {
  const int64_t E = r.num_experts, EP = r.expert_parallel;
  if ((E + r.redundant_experts) % EP != 0)
    throw std::invalid_argument(fmt::format("{} experts + {} redundant do not divide over {} ranks", E, r.redundant_experts, EP));
  const auto load = loads_of(r, layer);
  std::vector<int32_t> experts(E);
  std::iota(experts.begin(), experts.end(), 0);
  std::vector<int64_t> ranks(EP);
  std::iota(ranks.begin(), ranks.end(), 0);
  LayerPlacement p;
  p.rank_slots.assign(EP, {});
  pack(experts, replicate(experts, load, r.redundant_experts), load, ranks, (E + r.redundant_experts) / EP, p);
  finalize_placement(p, E);
  return p;
}

LayerPlacement eplb_hierarchical(const PlacementRequest& r, int64_t layer) {
  const int64_t E = r.num_experts, EP = r.expert_parallel, G = r.num_groups;
  const int64_t per_node = std::min(EP, std::max<int64_t>(1, r.ranks_per_node));
  const int64_t nodes = EP / per_node;
  // As EPLB does: without groups that divide over the nodes, fall back to the global policy.
  if (EP % per_node != 0 || G < nodes || G % nodes != 0 || r.redundant_experts % nodes != 0) return eplb_global(r, layer);
  const auto load = loads_of(r, layer);
  const int64_t per_group = E / G;
  std::vector<double> group_load(G, 0.0);
  for (int64_t e = 0; e < E; ++e) group_load[e / per_group] += load[e];
  // 1. Groups onto nodes, heaviest first onto the least-loaded node with room.
  std::vector<int64_t> order(G);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return group_load[a] > group_load[b]; });
  std::vector<std::vector<int64_t>> node_groups(nodes);
  std::vector<double> node_load(nodes, 0.0);
  for (int64_t g : order) {
    int64_t best = -1;
    for (int64_t n = 0; n < nodes; ++n)
      if (static_cast<int64_t>(node_groups[n].size()) < G / nodes && (best < 0 || node_load[n] < node_load[best])) best = n;
    node_groups[best].push_back(g);
    node_load[best] += group_load[g];
  }
  // 2. and 3. Replicate inside each node, then pack onto its ranks.
  LayerPlacement p;
  p.rank_slots.assign(EP, {});
  const int64_t slots_per_rank = (E + r.redundant_experts) / EP;
  for (int64_t n = 0; n < nodes; ++n) {
    std::vector<int32_t> experts;
    for (int64_t g : node_groups[n])
      for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e) experts.push_back(static_cast<int32_t>(e));
    std::vector<int64_t> ranks(per_node);
    std::iota(ranks.begin(), ranks.end(), n * per_node);
    pack(experts, replicate(experts, load, r.redundant_experts / nodes), load, ranks, slots_per_rank, p);
  }
  finalize_placement(p, E);
  return p;
}

}  // namespace moesim
