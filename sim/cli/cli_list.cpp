#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/hardware/expert_backends.h"
#include "sim/hardware/expert_cost_model.h"
#include "sim/hardware/hardware_profile.h"
#include "sim/io/errors.h"
#include "sim/moe/model_config.h"
#include "sim/moe/param_count.h"
#include "sim/moe/placement.h"
#include "sim/moe/routing_source.h"
#include "sim/network/a2a.h"
#include "sim/network/topology_registry.h"
#include "sim/scenario/config_fields.h"
#include "sim/scenario/data_paths.h"

namespace moesim::cli {
namespace {

struct Row {
  std::string name, description;
  Json extra;
};

Json param_specs(const std::vector<ParamSpec>& params) {
  Json out = Json::array();
  for (const auto& p : params) {
    Json j = {{"key", p.key}, {"type", p.type}, {"unit", p.unit}, {"default", p.default_value}, {"description", p.description}};
    if (std::isfinite(p.min)) j["min"] = p.min;
    if (std::isfinite(p.max)) j["max"] = p.max;
    out.push_back(std::move(j));
  }
  return out;
}

// A registry's rows: name, description, citation, the entry's traits (as `traits(entry)` puts
// them) and its parameter specs.
template <typename Reg, typename Traits>
void registry_rows(const Reg& reg, Traits traits, std::vector<Row>& rows) {
  for (const auto& e : reg.entries())
    rows.push_back({e.name, e.description, {{"citation", e.citation}, {"traits", traits(e.traits)}, {"params", param_specs(e.params)}}});
}

const char* a2a_count_name(DeepEpCount c) {
  return c == DeepEpCount::Messages ? "messages" : c == DeepEpCount::DeviceOrNodeTokens ? "device-or-node-tokens" : "crossing-tokens";
}

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
      const auto table = find_calibration(h, data_dir());
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
                                     h.hbm_capacity_bytes / 1073741824.0, h.hbm_bandwidth_Bps / 1e12, h.flops_for(Dtype::Bf16) / 1e12, calibration),
                      {{"calibrated", table != nullptr}, {"backends", backends}}});
    }
  } else if (what == "placements") {
    registry_rows(placement_registry(), [](const PlacementTraits& t) -> Json {
      return {{"needs_loads", t.needs_loads}, {"needs_file", t.needs_file}, {"allows_redundancy", t.allows_redundancy}};
    }, rows);
  } else if (what == "topologies") {
    registry_rows(topology_registry(), [](const TopologyTraits& t) -> Json {
      return {{"scale_up_fabric", t.scale_up_fabric}, {"native_a2a", t.native_a2a}, {"decode_a2a", t.decode_a2a}};
    }, rows);
  } else if (what == "a2a") {
    registry_rows(a2a_registry(), [](const A2aTraits& t) -> Json {
      return {{"unit", t.unit == A2aUnit::Message ? "message" : "token"}, {"header_bytes", t.header_bytes},
              {"carries_topk_meta", t.carries_topk_meta}, {"deepep_count", a2a_count_name(t.deepep_count)}};
    }, rows);
  } else if (what == "routing") {
    registry_rows(routing_registry(), [](const RoutingTraits& t) -> Json { return {{"needs_file", t.needs_file}}; }, rows);
  } else if (what == "backends") {
    registry_rows(expert_backend_registry(), [](const ExpertBackendTraits& t) -> Json {
      return {{"kind", t.kind == ExpertBackendKind::Auto ? "auto" : t.kind == ExpertBackendKind::Roofline ? "roofline" : "measured"},
              {"auto_preference", t.auto_preference}};
    }, rows);
  } else {
    throw InputError(fmt::format("unknown list \"{}\" (models, hardware, placements, routing, topologies, a2a, backends, keys)", what));
  }
  return rows;
}

}  // namespace

// `moesim list keys`: every experiment key (sim/scenario/config_fields.h).
int list_keys(bool json, bool markdown) {
  if (json) std::cout << config_fields_json().dump(1) << "\n";
  else if (markdown) std::cout << config_fields_markdown();
  else
    for (const auto& f : config_fields())
      fmt::print("{:<36} {:<10} {:<6} default {}: {}\n", f.section + "." + f.key, f.type, f.unit, f.default_value.empty() ? "none" : f.default_value, f.description);
  return 0;
}

int list(const std::vector<std::string>& args) {
  bool json = false, markdown = false;
  std::string what;
  for (const auto& a : args) {
    if (a == "--json") json = true;
    else if (a == "--markdown") markdown = true;
    else if (a == "--help" || a == "-h") {
      std::cout << "usage: moesim list models|hardware|placements|routing|topologies|a2a|backends|keys [--json] [--markdown: keys]\n\nOne line per entry: its name, then a description.\n";
      return 0;
    } else what = a;
  }
  if (what.empty()) {
    fmt::print(stderr, "moesim: error: list: usage: moesim list models|hardware|placements|routing|topologies|a2a|backends|keys [--json] [--markdown: keys]\n");
    return 2;
  }
  if (what == "keys") return list_keys(json, markdown);
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
