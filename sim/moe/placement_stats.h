// The device balance of a placement over recorded routing statistics (`moesim trace stats
// --placement`): each MoE layer placed with the policy, its recorded loads as the layer loads.
#pragma once
#include "sim/import/trace_stats.h"

namespace moesim {

// Fills each MoE layer's device_load_max_over_mean: device load = sum over its slots of the
// expert's load divided by the expert's number of copies. InputError for a policy or layout that
// does not apply (including policies that need a placement file).
void add_device_loads(RoutingStats& stats, const StatsPlacement& placement);

}  // namespace moesim
