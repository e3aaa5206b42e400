#include "sim/base/dtype.h"

#include <array>
#include <cmath>

namespace moesim {
namespace {

constexpr std::array<DtypeInfo, 5> kDtypes = {{
    {Dtype::Fp8, "fp8", 1.0, 128},
    {Dtype::Int8, "int8", 1.0, 0},
    {Dtype::Bf16, "bf16", 2.0, 0},
    {Dtype::Fp16, "fp16", 2.0, 0},
    {Dtype::Fp32, "fp32", 4.0, 0},
}};

constexpr std::array<EnumName<Dtype>, 5> kDtypeNames = {{
    {Dtype::Fp8, "fp8"}, {Dtype::Int8, "int8"}, {Dtype::Bf16, "bf16"}, {Dtype::Fp16, "fp16"}, {Dtype::Fp32, "fp32"}}};

const DtypeInfo& info(Dtype d) {
  for (const auto& i : kDtypes)
    if (i.dtype == d) return i;
  return kDtypes[2];
}

}  // namespace

std::span<const DtypeInfo> dtype_table() { return kDtypes; }
std::span<const EnumName<Dtype>> dtype_names() { return kDtypeNames; }
const char* dtype_name(Dtype d) { return info(d).name; }
double dtype_bytes(Dtype d) { return info(d).bytes_per_elem; }
std::optional<Dtype> parse_dtype(std::string_view name) { return parse_enum(dtype_names(), name); }

std::vector<std::string> dtype_names_of(const std::vector<Dtype>& subset) {
  std::vector<std::string> out;
  for (Dtype d : subset) out.emplace_back(dtype_name(d));
  return out;
}

double wire_bytes(Dtype d, int64_t values) {
  const auto& i = info(d);
  const double v = static_cast<double>(values);
  return v * i.bytes_per_elem + (i.scale_block > 0 ? std::ceil(v / static_cast<double>(i.scale_block)) * 4.0 : 0.0);
}

}  // namespace moesim
