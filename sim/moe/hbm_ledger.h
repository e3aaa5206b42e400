// The HBM ledger of one device: bytes by category (weights, redundant expert copies, gradients,
// optimizer state, saved activations, KV cache, all-to-all buffers, workspace) against the
// device's usable capacity (capacity minus the runtime's reserve).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "sim/io/json_reader.h"

namespace moesim {

class HbmLedger {
 public:
  void add(const std::string& category, double bytes);  // accumulates; negative is a logic error
  double total() const;
  double get(const std::string& category) const;
  const std::vector<std::pair<std::string, double>>& entries() const { return entries_; }
  Json to_json(double usable_bytes, double capacity_bytes) const;

 private:
  std::vector<std::pair<std::string, double>> entries_;  // in insertion order
};

}  // namespace moesim
