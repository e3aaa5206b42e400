// Paths shared by the tests: the repository root and ../shared/traces beside it.
#pragma once
#include <filesystem>
#include <string>

namespace moesim::test {

inline std::string repo_path(const std::string& rel) { return std::string(MOESIM_SOURCE_DIR) + "/" + rel; }

// ../shared/traces beside the checkout; empty when absent (tests then skip with a message).
inline std::string shared_traces_dir() {
  const auto p = std::filesystem::path(MOESIM_SOURCE_DIR).parent_path() / "shared" / "traces";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace moesim::test
