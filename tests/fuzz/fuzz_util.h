// Shared by the libFuzzer targets: each writes its input to a per-process temporary file (the
// readers take paths) and calls one reader; InputError is the expected way to reject input,
// anything else (a crash, a sanitizer report, another exception) is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "sim/io/errors.h"

namespace moesim::fuzz {

// /tmp/moesim_fuzz_<pid>_<name>; removed (a file, or a folder holding files) when the fuzzer exits.
inline std::string temp_path(const char* name) {
  static std::set<std::string> made;
  static const bool cleanup = [] {
    std::atexit([] {
      for (const auto& p : made) std::filesystem::remove_all(p);
    });
    return true;
  }();
  (void)cleanup;
  return *made.insert("/tmp/moesim_fuzz_" + std::to_string(::getpid()) + "_" + name).first;
}

// Writes the input to a file named `name` in the per-process temporary folder; returns its path.
inline std::string write_input(const char* name, const uint8_t* data, size_t size) {
  const std::string path = temp_path(name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

template <typename F>
void expect_input_errors_only(F&& f) {
  try {
    f();
  } catch (const moesim::InputError&) {
  }
}

}  // namespace moesim::fuzz
