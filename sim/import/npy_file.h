// A standalone NumPy .npy reader for importers (vLLM's routed experts saved with numpy.save):
// versions 1-3, little-endian or single-byte integer and float dtypes, C order. Parses from
// memory so that it can be fuzzed; errors name the file and the byte offset.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moesim::import {

struct NpyData {
  char kind = 0;                // 'i' (signed), 'u' (unsigned), 'f' (float)
  int item_bytes = 0;           // 1, 2, 4 or 8
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the bytes passed to parse_npy
  int64_t count = 0;
  // Element i as int64 (integer dtypes) or as double (float dtypes), little-endian.
  int64_t integer(int64_t i) const;
  double real(int64_t i) const;
};

// `bytes` must outlive the result. Throws InputError naming `file` and the byte offset.
NpyData parse_npy(const std::string& file, const std::string& bytes);

}  // namespace moesim::import
