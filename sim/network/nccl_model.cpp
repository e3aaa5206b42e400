#include "sim/network/nccl_model.h"

#include <algorithm>
#include <limits>
#include <span>

namespace moesim {
namespace {

struct Protocol {
  double alpha_us;  // fixed time of a call
  double share;     // of the link's nominal bandwidth
  bool nvls;        // an in-switch reduction (all-reduce only)
};

// All-to-all (and all-gather, reduce-scatter): LL, LL128, Simple.
constexpr Protocol kAllToAll[] = {{7.8, 0.143, false}, {12.0, 0.56, false}, {44.0, 0.72, false}};
// All-reduce: ring LL, ring LL128, NVLS Simple.
constexpr Protocol kAllReduce[] = {{15.6, 0.45, false}, {17.0, 0.49, false}, {70.0, 0.585, true}};

double wire_bytes(NcclCollective c, double bytes, int64_t ranks, bool nvls) {
  const double n = static_cast<double>(ranks);
  if (c != NcclCollective::AllReduce) return (n - 1.0) / n * bytes;
  return nvls ? bytes : 2.0 * (n - 1.0) / n * bytes;
}

}  // namespace

SimTime nccl_time(NcclCollective collective, double bytes, int64_t ranks, double link_Bps, bool nvls) {
  if (ranks <= 1) return SimTime();
  const bool all_reduce = collective == NcclCollective::AllReduce;
  double best = std::numeric_limits<double>::infinity();
  for (const Protocol& p : all_reduce ? std::span<const Protocol>(kAllReduce) : std::span<const Protocol>(kAllToAll)) {
    if (p.nvls && !nvls) continue;
    const double s = p.alpha_us * 1e-6 + wire_bytes(collective, bytes, ranks, p.nvls) / (p.share * link_Bps);
    best = std::min(best, s);
  }
  return SimTime::from_seconds(best);
}

NcclRetime nccl_alltoall_retime(SimTime transfer, double efficiency) {
  double best = std::numeric_limits<double>::infinity(), alpha = 0;
  for (const Protocol& p : kAllToAll) {
    const double s = p.alpha_us * 1e-6 + transfer.seconds() * efficiency / p.share;
    if (s < best) best = s, alpha = p.alpha_us;
  }
  return {SimTime::from_seconds(best), SimTime::from_us(alpha)};
}

}  // namespace moesim
