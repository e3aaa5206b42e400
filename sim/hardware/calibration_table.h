// A measured calibration table, hw_profiles/<name>.calibration.json, as written by
// calibration/assemble.py from runs of calibration/run_calibration.sh on a real GPU: for each
// expert-block backend ("cublas-grouped", "torch-grouped-mm") and dtype, the median time of one
// grouped SwiGLU block with E experts of n tokens each over a grid of (hidden, intermediate, E, n),
// plus uneven count vectors, the measured dense / memory / gating / communication kernels, and the
// provenance of the run. Loading validates everything the cost model relies on and reports the
// first problem as one line naming the file and the JSON path.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/io/json_reader.h"

namespace moesim {

// Block times for one (hidden, intermediate, experts) over increasing tokens per expert.
struct CalibrationCurve {
  int64_t hidden = 0, intermediate = 0, experts = 0;
  std::vector<int64_t> tokens;    // strictly increasing, >= 1
  std::vector<double> median_us;  // > 0, one per token count
  std::vector<double> p10_us, p90_us;  // empty or one per token count
};

// One uneven count vector and its measured block time.
struct SkewedMeasurement {
  std::string tag;
  int64_t hidden = 0, intermediate = 0;
  std::vector<int64_t> counts;
  double median_us = 0;
};

struct ExpertBlockTable {
  std::string backend, dtype;
  // Tokens per GEMM tile row block the kernels pad each expert to, fitted by assemble.py (leave-one-
  // out over the grid); 0 = none. Between two measured counts, the block time then steps with the
  // number of tiles, not smoothly with the count (see ExpertCostModel).
  int64_t token_tile = 0;
  std::vector<CalibrationCurve> uniform;
  std::vector<SkewedMeasurement> skewed;
};

struct CalibrationProvenance {
  std::string gpu_name, driver, date_utc, git_commit, command;
  std::string nvcc, cublas, torch;  // empty when not recorded
};

struct CalibrationTable {
  std::string file;      // where it was read from
  std::string hardware;  // hw_profiles name, e.g. "H100-SXM"
  CalibrationProvenance provenance;
  std::map<std::string, std::string> implementations;                      // backend -> description
  std::map<std::pair<std::string, std::string>, ExpertBlockTable> blocks;  // (backend, dtype)
  Json kernels;  // dense_gemm, memcpy, gating, elementwise, communication, as measured

  const ExpertBlockTable* find(const std::string& backend, const std::string& dtype) const;
  std::vector<std::string> backends() const;
  std::vector<std::string> dtypes(const std::string& backend) const;
};

CalibrationTable parse_calibration(const JsonValue& root);
// The table of a file, shared: parsed once per unchanged file and never copied (parse_once).
std::shared_ptr<const CalibrationTable> load_calibration_file(const std::string& path);

}  // namespace moesim
