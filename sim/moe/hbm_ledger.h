// The HBM ledger of one device: bytes by category (weights, redundant expert copies, gradients,
// optimizer state, saved activations, KV cache, all-to-all buffers, workspace) against the
// device's usable capacity (capacity minus the runtime's reserve).
#pragma once
#include <array>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sim/base/enum_table.h"
#include "sim/io/json_reader.h"

namespace moesim {

enum class HbmCategory { Weights, RedundantExpertWeights, Gradients, OptimizerState, Activations, KvCache, A2aBuffers, Workspace };

// The names the report writes (with "_bytes" appended).
inline constexpr std::array<EnumName<HbmCategory>, 8> kHbmCategoryNames = {{
    {HbmCategory::Weights, "weights"},
    {HbmCategory::RedundantExpertWeights, "redundant_expert_weights"},
    {HbmCategory::Gradients, "gradients"},
    {HbmCategory::OptimizerState, "optimizer_state"},
    {HbmCategory::Activations, "activations"},
    {HbmCategory::KvCache, "kv_cache"},
    {HbmCategory::A2aBuffers, "a2a_buffers"},
    {HbmCategory::Workspace, "workspace"},
}};
inline const char* hbm_category_name(HbmCategory c) { return enum_name<HbmCategory>(kHbmCategoryNames, c); }

class HbmLedger {
 public:
  void add(HbmCategory category, double bytes);  // accumulates; negative or non-finite is a logic error
  double total() const;
  double get(HbmCategory category) const;
  const std::vector<std::pair<HbmCategory, double>>& entries() const { return entries_; }
  Json to_json(double usable_bytes, double capacity_bytes) const;
  // Where the transient buffers peak ("layer 3: expert gate/up"), empty when not computed.
  void set_peak_op(std::string op) { peak_op_ = std::move(op); }
  const std::string& peak_op() const { return peak_op_; }

 private:
  std::string peak_op_;
  std::vector<std::pair<HbmCategory, double>> entries_;  // in insertion order
};

}  // namespace moesim
