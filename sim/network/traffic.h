// A collective's traffic: bytes from each source device to each destination device.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace moesim {

struct Transfer {
  int32_t src = 0;
  int32_t dst = 0;
  double bytes = 0;
};

// Dense src x dst byte matrix that is cheap to clear and turn into a transfer list.
class TrafficMatrix {
 public:
  explicit TrafficMatrix(int64_t devices = 0) { reset(devices); }
  void reset(int64_t devices) {
    n_ = devices;
    bytes_.assign(static_cast<size_t>(devices * devices), 0.0);
  }
  void add(int64_t src, int64_t dst, double bytes) { bytes_[static_cast<size_t>(src * n_ + dst)] += bytes; }
  double at(int64_t src, int64_t dst) const { return bytes_[static_cast<size_t>(src * n_ + dst)]; }
  int64_t devices() const { return n_; }
  // Non-zero off-diagonal entries, in (src, dst) order.
  std::vector<Transfer> transfers() const;
  // The same traffic in the reverse direction (combine returns what dispatch sent).
  TrafficMatrix transposed(double scale) const;

 private:
  int64_t n_ = 0;
  std::vector<double> bytes_;
};

}  // namespace moesim
