// Numeric formats of weights, activations, caches and messages, with one table of their names,
// bytes per element and, for FP8 on the wire, the block of values that shares one fp32 scale.
// FP8 activations are quantised in 1 x 128 tiles with one fp32 scale each (DeepSeek-V3, arXiv:2412.19437
// Sec. 3.3.2; DeepEP's FP8 dispatch sends the scales with the data).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/base/enum_table.h"

namespace moesim {

enum class Dtype : uint8_t { Fp8, Int8, Bf16, Fp16, Fp32 };

struct DtypeInfo {
  Dtype dtype;
  const char* name;
  double bytes_per_elem;
  int64_t scale_block;  // values per fp32 scale when sent quantised; 0 = no scales
};

std::span<const DtypeInfo> dtype_table();
std::span<const EnumName<Dtype>> dtype_names();
const char* dtype_name(Dtype d);
double dtype_bytes(Dtype d);
std::optional<Dtype> parse_dtype(std::string_view name);
// Names of `subset`, in the order given (for "one of ..." choices).
std::vector<std::string> dtype_names_of(const std::vector<Dtype>& subset);

// Bytes of `values` elements in `d` as moved between devices: the data plus one fp32 scale per
// scale block (ceil(values / block) * 4 bytes) for a quantised format.
double wire_bytes(Dtype d, int64_t values);

}  // namespace moesim
