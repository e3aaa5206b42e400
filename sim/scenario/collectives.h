// Collectives outside the MoE all-to-all, as closed forms: a ring all-reduce of `bytes` over `n`
// ranks moves 2 (n - 1) / n of them through each rank's slowest hop (Patarasuk & Yuan, "Bandwidth
// optimal all-reduce algorithms for clusters of workstations", JPDC 2009), plus a fixed latency.
// Used by the attention tensor-parallel all-reduce and the gradient synchronisation.
#pragma once
#include <cstdint>

#include "sim/engine/sim_time.h"

namespace moesim {

// bandwidth_Bps: achievable bytes/s of the slowest hop per rank; 0 for n <= 1.
inline SimTime ring_allreduce_time(double bytes, int64_t n, double bandwidth_Bps, SimTime latency) {
  if (n <= 1) return SimTime();
  return SimTime::from_seconds(2.0 * static_cast<double>(n - 1) / static_cast<double>(n) * bytes / bandwidth_Bps) + latency;
}

}  // namespace moesim
