#include "sim/moe/hbm_ledger.h"

#include <cmath>
#include <stdexcept>

namespace moesim {

void HbmLedger::add(HbmCategory category, double bytes) {
  if (!(bytes >= 0) || !std::isfinite(bytes)) throw std::logic_error(std::string("HBM ledger: negative or non-finite bytes for ") + hbm_category_name(category));
  for (auto& [name, b] : entries_)
    if (name == category) {
      b += bytes;
      return;
    }
  entries_.emplace_back(category, bytes);
}

double HbmLedger::total() const {
  double t = 0;
  for (const auto& e : entries_) t += e.second;
  return t;
}

double HbmLedger::get(HbmCategory category) const {
  for (const auto& e : entries_)
    if (e.first == category) return e.second;
  return 0;
}

Json HbmLedger::to_json(double usable_bytes, double capacity_bytes) const {
  Json by = Json::object();
  for (const auto& [name, b] : entries_) by[std::string(hbm_category_name(name)) + "_bytes"] = std::round(b);
  const double t = total();
  Json j = {{"categories", by},
          {"total_bytes", std::round(t)},
          {"usable_bytes", std::round(usable_bytes)},
          {"capacity_bytes", std::round(capacity_bytes)},
          {"fits", t <= usable_bytes},
          {"overflow_bytes", t > usable_bytes ? std::round(t - usable_bytes) : 0.0}};
  if (!peak_op_.empty()) j["peak_op"] = peak_op_;
  return j;
}

}  // namespace moesim
