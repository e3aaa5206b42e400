// moesim's per-token routing trace: a NumPy .npz archive (numpy.savez, uncompressed) with
//   topk_ids      int16 or int32 [moe_layers, tokens, top_k]  expert ids per token and layer
//   gate_weights  float32        [moe_layers, tokens, top_k]  optional, the router's weights
//   meta          uint8          [n]  UTF-8 JSON header: {"format": "moesim-trace", "version": 1,
//                 "model", "num_experts", "top_k", "layers": [model layer ids], "source"}
// Memory-mapped: a layer is read where it is used, never the whole file at once.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/io/npz_archive.h"

namespace moesim {

struct TraceHeader {
  std::string model;
  std::string source;
  int64_t num_experts = 0;
  int64_t top_k = 0;
  int64_t tokens = 0;
  std::vector<int64_t> layers;  // model layer id of each stored layer
};

class RoutingTrace {
 public:
  explicit RoutingTrace(const std::string& path);
  const TraceHeader& header() const { return header_; }
  bool has_weights() const { return weights_ != nullptr; }
  // Copies token t's top_k expert ids (and weights, when present and `weights` is not null) of
  // stored layer `layer_index`; throws InputError naming the layer, token and byte offset of an
  // id out of range or a weight that is not finite.
  void read_token(size_t layer_index, int64_t token, int32_t* ids, float* weights) const;
  // read_token for tokens [first, first + count) of one stored layer (first + count <= tokens),
  // into ids[count x top_k] (and weights): one pass per check instead of one call per token.
  void read_tokens(size_t layer_index, int64_t first, int64_t count, int32_t* ids, float* weights) const;
  const std::string& path() const { return npz_->path(); }

 private:
  std::unique_ptr<NpzReader> npz_;
  TraceHeader header_;
  const NpyArray* ids_ = nullptr;
  bool ids_int16_ = false;  // topk_ids is int16 (else int32)
  // Throws the error for the first bad id of a token that read_token found bad.
  [[noreturn]] void refuse_token(size_t layer_index, int64_t token, const int32_t* ids) const;
  // Throws the error for the first token of [first, first + count) with a bad id.
  [[noreturn]] void refuse_tokens(size_t layer_index, int64_t first, int64_t count, const int32_t* ids) const;
  // Copies and checks the weights of [first, first + count).
  void read_weights(size_t layer_index, int64_t first, int64_t count, float* weights) const;
  const NpyArray* weights_ = nullptr;
};

struct TraceData {
  TraceHeader header;
  std::vector<int32_t> ids;      // [layers, tokens, top_k]
  std::vector<float> weights;    // same shape, or empty
};

void write_routing_trace(const std::string& path, const TraceData& data);

}  // namespace moesim
