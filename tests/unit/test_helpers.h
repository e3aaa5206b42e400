// Shared by the tests: the repository root, ../shared/traces beside it, a scratch folder, and the
// message of an expected input error.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sim/io/errors.h"

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

}  // namespace moesim::test
