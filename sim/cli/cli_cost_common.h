// Pieces the `moesim cost` subcommands share (cli_cost.cpp, cli_cost_layer.cpp, cli_cost_op.cpp):
// the device cost model per expert dtype, token-count lists, and the batch-file loop.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/hardware/device_cost.h"
#include "sim/io/json_reader.h"

namespace moesim::cli {

// The cost model `moesim run` uses for one expert backend, one per expert dtype, built on first use.
class CostModels {
 public:
  CostModels(HardwareProfile hw, std::string backend, bool allow_extrapolation)
      : hw_(std::move(hw)), backend_(std::move(backend)), allow_(allow_extrapolation) {}
  const DeviceCostModel& get(Dtype expert_dtype);
  const HardwareProfile& hardware() const { return hw_; }
  const std::string& backend() const { return backend_; }

 private:
  HardwareProfile hw_;
  std::string backend_;
  bool allow_;
  std::map<Dtype, std::unique_ptr<DeviceCostModel>> models_;
};

// "n1,n2,..." of whole numbers from `min` to `max` (digits only, no spaces or signs); InputError
// naming `where` and `what` (the list's kind, for the message) otherwise, or for an empty list.
std::vector<int64_t> parse_whole_list(const std::string& text, const std::string& where, int64_t min, int64_t max, const std::string& what);

// "c1,c2,..." of token counts >= 0 (parse_whole_list).
std::vector<int64_t> parse_counts(const std::string& text, const std::string& where);

// Answers each non-blank line of `path` (- = stdin) not starting with '#', one JSON line out per
// line in; a refused line prints {"error": "PATH:LINE: why"} and the batch goes on. Returns the
// exit status: 1 when any line was refused. InputError when `path` is not a readable regular file.
int run_batch_lines(const std::string& path, const std::function<Json(const std::string& line, const std::string& where)>& answer);

}  // namespace moesim::cli
