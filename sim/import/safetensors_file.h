// A small reader of the safetensors format (huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON header {"name": {"dtype", "shape", "data_offsets": [begin,
// end]}, "__metadata__": {...}}, then the raw little-endian tensor data, offsets relative to
// its start. Parses from memory (fuzzable); errors name the file, the header key or the byte
// offset. Used by the TensorRT-LLM expert-statistic importer.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moesim::import {

struct SafeTensor {
  std::string dtype;            // "I32", "I64", "F32", ...
  std::vector<int64_t> shape;
  int64_t count = 0;
  const uint8_t* data = nullptr;  // into the bytes given to parse_safetensors
  int64_t offset = 0;             // byte offset of the data in the file
  int item_bytes = 0;
  // Element i as a double (integer and float dtypes; BF16/F16 are not supported).
  double value(int64_t i) const;
};

// `bytes` must outlive the result. Tensors by name, without "__metadata__".
std::map<std::string, SafeTensor> parse_safetensors(const std::string& file, const std::string& bytes);

}  // namespace moesim::import
