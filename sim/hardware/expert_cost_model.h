// The time of one grouped SwiGLU expert block (gate/up GEMM, SiLU*mul, down GEMM over all local
// experts, one token count per expert) on one device. With a backend named, it comes from the
// device's measured calibration table (hw_profiles/<name>.calibration.json):
//  - uniform blocks: piecewise linear in log(time) over log(tokens per expert) (over the number
//    of token tiles when the table has a fitted token_tile: time steps where a tile fills), and multilinear
//    in log(hidden), log(intermediate), log(experts) between the measured grid values; exact at
//    measured points, monotone in tokens wherever the measurements are;
//  - uneven counts: the sum over active experts of the per-expert share T(E_a, c_i) / E_a of a
//    uniform block with E_a = number of active experts, bounded below by the block of the
//    largest expert alone (its tail cannot overlap with nothing);
//  - outside the measured grid an InputError, unless extrapolation is allowed (then: time
//    proportional to tokens above the largest count, flat below the smallest, proportional to
//    hidden x intermediate outside the shape grid, the nearest measured E outside the E grid),
//    and the estimate says it was extrapolated.
// With no backend it is the roofline of layer_costs' expert_block_cost. calibration/README.md
// gives the reasons and calibration/ACCURACY.md the measured errors.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "sim/engine/sim_time.h"
#include "sim/hardware/calibration_table.h"
#include "sim/hardware/hardware_profile.h"

namespace moesim {

struct ExpertBlockEstimate {
  SimTime time;
  std::string source;  // "calibrated:<backend>" or "roofline"
  bool extrapolated = false;
};

class ExpertCostModel {
 public:
  // backend empty = use the roofline; throws InputError if `table` (null = none found) has no
  // table for that backend.
  ExpertCostModel(const HardwareProfile& hw, std::shared_ptr<const CalibrationTable> table, const std::string& backend,
                  bool allow_extrapolation);

  // Predicted time of ONE grouped SwiGLU expert block (all experts, one per count) on one device.
  ExpertBlockEstimate expert_block(int64_t hidden, int64_t intermediate, Dtype dtype,
                                   const std::vector<int64_t>& counts) const;
  bool calibrated() const { return !backend_.empty(); }
  // Backends the device's table has (empty without a table).
  std::vector<std::string> backends() const;
  const CalibrationTable* table() const { return table_.get(); }

 private:
  struct Share {
    double log_us = 0;  // log of the per-expert share T(E, n) / E in us
    bool extrapolated = false;
  };
  // The measured grid of one (backend, dtype) table: sorted distinct values and cell positions.
  struct Index {
    std::vector<int64_t> hidden, intermediate, experts;
    std::map<std::tuple<int64_t, int64_t, int64_t>, size_t> cells;  // -> position in uniform
  };
  std::optional<Share> share(const ExpertBlockTable& t, const Index& ix, int64_t hidden, int64_t intermediate, int64_t experts,
                             int64_t tokens, bool allow, std::string* why) const;
  // share() through a cache of its answers (a run asks for the same few (experts, tokens) pairs
  // on every device of every layer); a refusal is answered from it only when no reason is asked.
  std::optional<Share> cached_share(const ExpertBlockTable& t, const Index& ix, int64_t hidden, int64_t intermediate, int64_t experts,
                                    int64_t tokens, bool allow, std::string* why) const;
  ExpertBlockEstimate roofline(int64_t hidden, int64_t intermediate, Dtype dtype,
                               const std::vector<int64_t>& counts) const;

  HardwareProfile hw_;
  std::shared_ptr<const CalibrationTable> table_;  // shared by every model of one file
  std::string backend_;
  bool allow_extrapolation_ = false;
  std::map<std::pair<std::string, std::string>, Index> index_;
  std::string source_;  // "calibrated:<backend>"
  using ShareKey = std::tuple<const ExpertBlockTable*, int64_t, int64_t, int64_t, int64_t, bool>;  // table, hidden, intermediate, experts, tokens, allow
  mutable std::mutex share_mutex_;
  mutable std::map<ShareKey, std::optional<Share>> shares_;
};

// Finds <data_dir>/hw_profiles/<name>.calibration.json for the profile (or the profile it borrows
// from, calibration_from), shared; null if absent (an InputError when calibration_from names a
// profile without one). data_dir: sim/scenario/data_paths.h's data_dir().
std::shared_ptr<const CalibrationTable> find_calibration(const HardwareProfile& hw, const std::string& data_dir);

}  // namespace moesim
