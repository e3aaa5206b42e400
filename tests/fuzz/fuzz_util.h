// Shared by the libFuzzer targets: each writes its input to a per-process temporary file (the
// readers take paths) and calls one reader; InputError is the expected way to reject input,
// anything else (a crash, a sanitizer report, another exception) is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "sim/io/errors.h"

namespace moesim::fuzz {

inline std::string temp_path(const char* name) {
  return "/tmp/moesim_fuzz_" + std::to_string(::getpid()) + "_" + name;
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
