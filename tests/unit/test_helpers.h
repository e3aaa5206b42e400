// Shared by the tests: the repository root, ../shared/traces beside it, and the message of an
// expected input error.
#pragma once
#include <filesystem>
#include <string>

#include "sim/io/errors.h"

namespace moesim::test {

inline std::string repo_path(const std::string& rel) { return std::string(MOESIM_SOURCE_DIR) + "/" + rel; }

// ../shared/traces beside the checkout; empty when absent (tests then skip with a message).
inline std::string shared_traces_dir() {
  const auto p = std::filesystem::path(MOESIM_SOURCE_DIR).parent_path() / "shared" / "traces";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

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

}  // namespace moesim::test
