// Shared by the tests: the repository root, ../shared/traces beside it, a scratch folder, and the
// message of an expected input error.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "sim/scenario/experiment_config.h"
#include "sim/scenario/simulation.h"

namespace moesim::test {

inline std::string repo_path(const std::string& rel) { return std::string(MOESIM_SOURCE_DIR) + "/" + rel; }

// ../shared/traces beside the checkout; empty when absent (tests then skip with a message).
inline std::string shared_traces_dir() {
  const auto p = std::filesystem::path(MOESIM_SOURCE_DIR).parent_path() / "shared" / "traces";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

// A file or folder under ../shared beside the checkout; empty when absent.
inline std::string shared_path(const std::string& rel) {
  const auto p = std::filesystem::path(MOESIM_SOURCE_DIR).parent_path() / "shared" / rel;
  return std::filesystem::exists(p) ? p.string() : std::string();
}

// The reference kernel times measured in other frameworks (../shared/reference/framework-kernels/
// comm_h100.csv): its rows after the header, cells split at commas outside double quotes (the quotes
// dropped); empty when the file is absent (tests then skip with a message).
inline std::vector<std::vector<std::string>> reference_comm_rows() {
  const std::string path = shared_path("reference/framework-kernels/comm_h100.csv");
  std::vector<std::vector<std::string>> rows;
  if (path.empty()) return rows;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (char ch : line) {
      if (ch == '"') quoted = !quoted;
      else if (ch == ',' && !quoted) cells.emplace_back();
      else cells.back() += ch;
    }
    rows.push_back(std::move(cells));
  }
  return rows;
}

// The median of `v` (the mean of the middle two for an even count); 0 for none.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A fresh folder under the system's temporary folder, removed again when the test ends.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name)
      : path((std::filesystem::temp_directory_path() / ("moesim-test-" + name + "-" + std::to_string(::getpid()))).string()) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name, const std::string& text) const {
    const std::string p = path + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
};

// The message of the InputError that `f` throws, or "" when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// The report of one simulated step of the experiment `json` (its errors name `file`).
inline Json run_report(const std::string& json, const std::string& file = "experiment.json") {
  Simulation sim(parse_experiment(JsonDocument::from_json(Json::parse(json), file)));
  sim.freeze();
  sim.run();
  return sim.report();
}

}  // namespace moesim::test
