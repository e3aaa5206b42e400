#include "sim/engine/sim_time.h"

#include <cmath>

namespace moesim {

SimTime SimTime::from_seconds(double s) {
  if (!std::isfinite(s)) throw std::overflow_error("simulated time is not finite");
  const double ps = std::round(s * 1e12);
  if (ps >= 9.2e18 || ps <= -9.2e18) throw std::overflow_error("simulated time overflow");
  return SimTime(static_cast<int64_t>(ps));
}

SimTime SimTime::from_ps_truncated(double ps) {
  if (!std::isfinite(ps)) throw std::overflow_error("simulated time is not finite");
  if (ps >= 9.2e18 || ps <= -9.2e18) throw std::overflow_error("simulated time overflow");
  return SimTime(static_cast<int64_t>(ps));
}

}  // namespace moesim
