// Measured dense GEMM times from a calibration table's `dense_gemm` list (calibration/bench_ops.cu:
// Y[M, N] = X[M, K] . W[N, K]^T for the shapes of attention projections and shared experts it
// measures). Looked up by (K, N, dtype) and interpolated linearly in log(time) over log(M) between
// measured M, exact at measured points; nullopt for a shape or an M the table does not cover.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sim/base/dtype.h"
#include "sim/io/json_reader.h"

namespace moesim {

class DenseGemmTable {
 public:
  DenseGemmTable() = default;
  // `dense_gemm`: the raw list (objects with M, K, N, dtype, median_us); null = no entries.
  explicit DenseGemmTable(const Json& dense_gemm);
  std::optional<double> time_us(int64_t M, int64_t K, int64_t N, Dtype dtype) const;
  bool empty() const { return curves_.empty(); }

 private:
  std::map<std::tuple<int64_t, int64_t, std::string>, std::vector<std::pair<int64_t, double>>> curves_;  // (K, N, dtype) -> (M, us)
};

}  // namespace moesim
