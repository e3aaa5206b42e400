#include "sim/moe/placement_stats.h"

#include <algorithm>

#include <fmt/format.h>

#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "sim/moe/placement.h"

namespace moesim {

void add_device_loads(RoutingStats& s, const StatsPlacement& p) {
  const auto* policy = placement_registry().find(p.policy);
  if (!policy)
    throw InputError(fmt::format("--placement: unknown policy \"{}\"; did you mean \"{}\"?", p.policy, closest(p.policy, placement_registry().names())));
  if (policy->traits.needs_file)
    throw InputError(fmt::format("--placement {} needs a placement file; trace stats takes the computed policies only", p.policy));
  const int64_t E = s.num_experts, slots = E + p.redundant;
  if (p.devices < 1 || p.redundant < 0 || p.devices_per_node < 1 || p.groups < 1) throw InputError("--devices, --devices-per-node and --groups must be positive, --redundant >= 0");
  if (slots % p.devices != 0 || slots < p.devices)
    throw InputError(fmt::format("{} experts + {} redundant do not divide over {} devices", E, p.redundant, p.devices));
  if (E % p.groups != 0) throw InputError(fmt::format("--groups {} does not divide the {} experts", p.groups, E));
  // As in experiments: more copies of an expert than devices would put two on one device.
  if (p.redundant > E * (p.devices - 1))
    throw InputError(fmt::format("--redundant: {} is more than one copy of each of the {} experts on every one of {} devices allows ({})", p.redundant,
                                 E, p.devices, E * (p.devices - 1)));
  PlacementRequest req;
  req.num_experts = E;
  req.expert_parallel = p.devices;
  req.redundant_experts = p.redundant;
  req.ranks_per_node = std::min(p.devices, p.devices_per_node);
  req.num_groups = p.groups;
  for (const auto& l : s.layers) req.layer_loads.push_back(l.moe() ? l.loads : std::vector<double>{});
  for (size_t i = 0; i < s.layers.size(); ++i) {
    auto& l = s.layers[i];
    if (!l.moe()) continue;
    LayerPlacement placed;
    try {
      placed = policy->factory(req, static_cast<int64_t>(i));
    } catch (const std::logic_error& e) {  // invalid_argument, or a policy's own consistency check
      throw InputError(fmt::format("--placement {}: {}", p.policy, e.what()));
    }
    std::vector<double> device(static_cast<size_t>(p.devices), 0.0);
    for (size_t d = 0; d < placed.rank_slots.size(); ++d)
      for (int32_t e : placed.rank_slots[d])
        device[d] += l.loads[static_cast<size_t>(e)] / static_cast<double>(placed.expert_ranks[static_cast<size_t>(e)].size());
    double sum = 0;
    for (double x : device) sum += x;
    l.device_load_max_over_mean = *std::max_element(device.begin(), device.end()) / (sum / static_cast<double>(p.devices));
  }
}

}  // namespace moesim
