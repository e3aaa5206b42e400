// Per-layer expert-count statistics: how many tokens each expert received in each layer over a
// run. Reads SGLang's expert-distribution `logical_count` JSON ({"logical_count": [[...] x
// layers]}) and moesim's own counts JSON ({"format": "moesim-counts", "model", "top_k",
// "num_experts", "layers": [model layer ids], "counts": [[...] x layers]}).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

struct ExpertCounts {
  std::string format;                      // "sglang-logical-count" | "moesim-counts"
  int64_t num_experts = 0;
  int64_t top_k = 0;                       // 0 when the file does not say
  std::vector<int64_t> layers;             // model layer id of each row
  std::vector<std::vector<double>> counts; // [row][expert]
};

ExpertCounts load_expert_counts(const std::string& path);

}  // namespace moesim
