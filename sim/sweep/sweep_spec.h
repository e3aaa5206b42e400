// A sweep: one base experiment and the points to run, each a set of overrides applied with the
// same mechanism as `moesim run --set`. Parsed from SWEEP.json with the validated reader (one-line
// errors naming the file, the JSON path and the closest key). Grid points expand in a fixed order
// (axes in file order, the last axis fastest); list points keep file order. Format: docs/sweeps.md.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/scenario/experiment_config.h"
#include "sim/io/json_reader.h"

namespace moesim {

using OrderedJson = nlohmann::ordered_json;

struct SweepPoint {
  int64_t index = 0;
  std::vector<std::pair<std::string, Json>> overrides;  // in axis (grid) or file (list) order
  std::vector<size_t> axis_value;                       // grid: the index of each axis's value
  std::string id;                                       // point_id(overrides_json())
  Json overrides_json() const;                          // {"path": value, ...}
  std::string describe() const;                         // "parallel.expert_parallel=8, moe.capacity_factor=1.25"
};

struct SweepSpec {
  std::string file;                  // the sweep file read
  std::string name, description;
  std::string base_file;             // the base experiment file (resolved), empty when inline
  std::string base_doc_name;         // document name the points' experiments are read under
  Json base;                         // the base experiment
  std::vector<std::pair<std::string, Json>> set;  // overrides common to every point, applied first
  std::string mode;                  // "grid" | "list"
  std::vector<std::string> columns;  // override paths, in first-appearance order
  std::vector<std::string> metrics;  // as written: "step_time_us", "breakdown_us.*", "/layers/0/layer_time_us"
  std::vector<SweepPoint> points;
  OrderedJson canonical;             // the sweep with the base inlined: what DIR/sweep.json records
  int64_t shard_index = 0;           // a copy's "shard" (a sweep file has none)
  int64_t shard_count = 1;
};

// Reads SWEEP.json. A copy (DIR/sweep.json, written by a run) is read with `copy` = true: it
// also carries "format", "base_file" and "shard", and its base is always inline.
SweepSpec load_sweep(const std::string& path, bool copy = false);

const std::vector<std::string>& default_sweep_metrics();

// A metric name ("step_time_us", "breakdown_us.*", "/layers/0/layer_time_us"): its JSON pointer
// into report.json and, for a wildcard, the prefix its members' column names take.
struct MetricPath {
  std::string pointer;
  bool wildcard = false;
  std::string prefix;
};
MetricPath metric_path(const std::string& name);

// Empty when `a` and `b` are the same (keys in the same order); else the JSON path of the first
// difference, such as "$.axes[\"moe.capacity_factor\"][2]".
std::string sweep_difference(const OrderedJson& a, const OrderedJson& b, const std::string& path = "$");

// 16 hex digits: FNV-1a 64 of the overrides' canonical JSON (keys sorted). Stable across runs,
// machines and point order.
std::string point_id(const Json& overrides);

// base + the point's overrides (applied as --set PATH=VALUE), parsed and validated. Throws an
// InputError naming the sweep file, the point's index and overrides, and the experiment's error.
ExperimentConfig point_experiment(const SweepSpec& spec, const SweepPoint& point);

// point_experiment, then the Simulation built (placement, routing source, topology) so that
// layout errors surface too, as `moesim validate` does. Returns a 128-bit fingerprint of the
// resolved experiment (FNV-1a 64 of its JSON from two offset bases), so that points that resolve to the same
// experiment ("none" and null for a default, "H800" and "hw_profiles/H800.json") are found.
std::pair<uint64_t, uint64_t> validate_point(const SweepSpec& spec, const SweepPoint& point);

}  // namespace moesim
