#include <iostream>

#include <fmt/format.h>

#include "sim/app/cli.h"
#include "sim/app/data_paths.h"
#include "sim/hardware/expert_cost_model.h"
#include "sim/hardware/hardware_profile.h"
#include "sim/moe/model_config.h"
#include "sim/moe/param_count.h"
#include "sim/moe/placement.h"
#include "sim/moe/routing_source.h"
#include "sim/network/a2a.h"
#include "sim/network/topology_registry.h"

namespace moesim::cli {
namespace {

struct Row {
  std::string name, description;
  Json extra;
};

std::vector<Row> rows_for(const std::string& what) {
  std::vector<Row> rows;
  if (what == "models") {
    for (const auto& n : bundled_names("models")) {
      const auto m = load_model_file(data_dir() + "/models/" + n + ".json");
      const auto p = count_params(m);
      rows.push_back({n, fmt::format("{:.1f}B total, {:.1f}B active; {} layers ({} MoE), {} experts top-{}; {}", p.total / 1e9, p.active / 1e9, m.num_layers,
                                     m.num_moe_layers(), m.moe.num_experts, m.moe.top_k, m.description),
                      {{"total_params", p.total}, {"active_params", p.active}, {"num_experts", m.moe.num_experts}, {"top_k", m.moe.top_k}}});
    }
  } else if (what == "hardware") {
    for (const auto& n : bundled_names("hw_profiles")) {
      const auto h = load_hardware_file(data_dir() + "/hw_profiles/" + n + ".json");
      const auto table = find_calibration(h);
      Json backends = Json::array();
      std::string calibration = "none (roofline)";
      if (table) {
        calibration.clear();
        for (const auto& b : table->backends()) {
          std::string dtypes;
          for (const auto& d : table->dtypes(b)) dtypes += (dtypes.empty() ? "" : "+") + d;
          backends.push_back({{"name", b}, {"dtypes", table->dtypes(b)}});
          calibration += (calibration.empty() ? "" : ", ") + b + " " + dtypes;
        }
        calibration += " (" + table->provenance.gpu_name + ", " + table->provenance.date_utc.substr(0, 10) + ")";
      }
      rows.push_back({n, fmt::format("{} {}: {:.0f} GiB HBM at {:.2f} TB/s, {:.0f} TFLOP/s bf16; calibration: {}", h.vendor, h.name,
                                     h.hbm_capacity_bytes / 1073741824.0, h.hbm_bandwidth_Bps / 1e12, h.flops_for("bf16") / 1e12, calibration),
                      {{"calibrated", table.has_value()}, {"backends", backends}}});
    }
  } else if (what == "placements") {
    for (const auto& e : placement_registry().entries()) rows.push_back({e.name, e.description, {{"citation", e.citation}}});
  } else if (what == "topologies") {
    for (const auto& e : topology_registry().entries()) rows.push_back({e.name, e.description, {{"citation", e.citation}}});
  } else if (what == "a2a") {
    for (const auto& e : a2a_registry().entries()) rows.push_back({e.name, e.description, {{"citation", e.citation}}});
  } else if (what == "routing") {
    for (const auto& e : routing_registry().entries()) rows.push_back({e.name, e.description, {{"citation", e.citation}}});
  } else {
    throw std::invalid_argument(fmt::format("unknown list \"{}\" (models, hardware, placements, routing, topologies, a2a)", what));
  }
  return rows;
}

}  // namespace

int list(const std::vector<std::string>& args) {
  bool json = false;
  std::string what;
  for (const auto& a : args) {
    if (a == "--json") json = true;
    else if (a == "--help" || a == "-h") {
      std::cout << "usage: moesim list models|hardware|placements|routing|topologies|a2a [--json]\n\nOne line per entry: its name, then a description.\n";
      return 0;
    } else what = a;
  }
  if (what.empty()) {
    fmt::print(stderr, "moesim list: error: usage: moesim list models|hardware|placements|routing|topologies|a2a [--json]\n");
    return 2;
  }
  const auto rows = rows_for(what);
  if (json) {
    Json out = Json::array();
    for (const auto& r : rows) {
      Json j = {{"name", r.name}, {"description", r.description}};
      for (auto it = r.extra.begin(); it != r.extra.end(); ++it) j[it.key()] = it.value();
      out.push_back(j);
    }
    std::cout << out.dump(1) << "\n";
  } else {
    for (const auto& r : rows) fmt::print("{:<20} {}\n", r.name, r.description);
  }
  return 0;
}

}  // namespace moesim::cli
