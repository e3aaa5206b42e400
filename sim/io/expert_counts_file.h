// Per-layer expert-count statistics: how many tokens each expert received in each layer over a
// run. Reads SGLang's expert-distribution `logical_count` JSON ({"logical_count": [[...] x
// layers]}) and moesim's own counts JSON ({"format": "moesim-counts", "model", "top_k",
// "num_experts", "layers": [model layer ids], "counts": [[...] x layers], optional "source" and
// "pair_counts": {"A->B": [[E] x E]}, the count of (expert at layer A, expert at layer B) pairs
// over tokens, as OLMoE's routing analysis records them}); writes moesim's counts JSON.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moesim {

struct ExpertCounts {
  std::string format;                      // "sglang-logical-count" | "moesim-counts"
  std::string model;                       // empty when the file does not say
  std::string source;                      // where the counts came from; empty when not said
  int64_t num_experts = 0;
  int64_t top_k = 0;                       // 0 when the file does not say
  std::vector<int64_t> layers;             // model layer id of each row
  std::vector<std::vector<double>> counts; // [row][expert]
  // "A->B" (model layer ids, both in `layers`) -> [expert at A][expert at B] pair counts.
  std::map<std::string, std::vector<std::vector<double>>> pair_counts;
};

ExpertCounts load_expert_counts(const std::string& path);

// Writes `c` as moesim-counts JSON (one matrix row a line), atomically. Whole numbers are
// written as integers.
void write_expert_counts(const std::string& path, const ExpertCounts& c);

// Splits "A->B" into its two layer ids; false when the text is not of that form.
bool parse_layer_pair(const std::string& key, int64_t& from, int64_t& to);

}  // namespace moesim
