#include "sim/hardware/dense_gemm_table.h"

#include <algorithm>
#include <cmath>

namespace moesim {

DenseGemmTable::DenseGemmTable(const Json& dense_gemm) {
  if (!dense_gemm.is_array()) return;
  for (const auto& r : dense_gemm) {
    if (!r.is_object() || !r.contains("M") || !r.contains("K") || !r.contains("N") || !r.contains("dtype") || !r.contains("median_us")) continue;
    const double us = r["median_us"].get<double>();
    if (!(us > 0)) continue;
    curves_[{r["K"].get<int64_t>(), r["N"].get<int64_t>(), r["dtype"].get<std::string>()}].emplace_back(r["M"].get<int64_t>(), us);
  }
  for (auto& [key, c] : curves_) {
    std::sort(c.begin(), c.end());
    c.erase(std::unique(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.first == b.first; }), c.end());
  }
}

std::optional<double> DenseGemmTable::time_us(int64_t M, int64_t K, int64_t N, Dtype dtype_kind) const {
  const std::string dtype = dtype_name(dtype_kind);
  const auto it = curves_.find({K, N, dtype});
  if (it == curves_.end() || M < 1) return std::nullopt;
  const auto& c = it->second;
  if (M < c.front().first || M > c.back().first) return std::nullopt;
  const auto hi = std::lower_bound(c.begin(), c.end(), std::make_pair(M, 0.0), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (hi->first == M) return hi->second;
  const auto lo = hi - 1;
  const double u = std::log(double(M) / double(lo->first)) / std::log(double(hi->first) / double(lo->first));
  return std::exp((1 - u) * std::log(lo->second) + u * std::log(hi->second));
}

}  // namespace moesim
