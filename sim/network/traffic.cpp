#include "sim/network/traffic.h"

namespace moesim {

std::vector<Transfer> TrafficMatrix::transfers() const {
  std::vector<Transfer> out;
  for (int64_t s = 0; s < n_; ++s)
    for (int64_t d = 0; d < n_; ++d) {
      const double b = bytes_[static_cast<size_t>(s * n_ + d)];
      if (s != d && b > 0) out.push_back({static_cast<int32_t>(s), static_cast<int32_t>(d), b});
    }
  return out;
}

TrafficMatrix TrafficMatrix::transposed(double scale) const {
  TrafficMatrix t(n_);
  for (int64_t s = 0; s < n_; ++s)
    for (int64_t d = 0; d < n_; ++d) t.bytes_[static_cast<size_t>(d * n_ + s)] = bytes_[static_cast<size_t>(s * n_ + d)] * scale;
  return t;
}

}  // namespace moesim
