// Imports vLLM's routed experts (`--enable-return-routed-experts`; the request output's
// `routed_experts`, int16 [tokens, moe_layers, top_k]) saved either as a NumPy .npy file
// (numpy.save) or as JSON {"routed_experts": [[[k ids] x moe_layers] x tokens]}. Writes a
// trace without gate weights. The data names neither the model nor the expert count:
// --experts is required, --model unless one bundled model has that shape; --layers gives the
// model layer id of each MoE layer (default: the model's MoE layer ids when their count matches,
// else 0..moe_layers-1).
#include <algorithm>
#include <fstream>

#include <fmt/format.h>

#include "sim/import/import_util.h"
#include "sim/import/npy_file.h"
#include "sim/io/input_file.h"

namespace moesim {
namespace {

struct Routed {
  int64_t tokens = 0, layers = 0, k = 0;
  std::vector<int32_t> ids;  // [layer][token][k], as the trace stores them
};

void check_distinct(const int32_t* row, int64_t k, const std::function<void(int64_t)>& fail) {
  for (int64_t i = 1; i < k; ++i)
    for (int64_t j = 0; j < i; ++j)
      if (row[i] == row[j]) fail(i);
}

Routed from_npy(const std::string& in, int64_t E) {
  const std::string bytes = import::read_file(in);
  const import::NpyData a = import::parse_npy(in, bytes);
  if (a.kind == 'f') throw input_error(in, "dtype", "routed experts must be integers (int16), got a float array");
  if (a.shape.size() != 3) throw input_error(in, "shape", fmt::format("expected [tokens, moe_layers, top_k], got {} dimensions", a.shape.size()));
  Routed r{a.shape[0], a.shape[1], a.shape[2], {}};
  if (r.tokens < 1 || r.layers < 1 || r.k < 1) throw input_error(in, "shape", "empty array");
  const int64_t data_at = a.data - reinterpret_cast<const uint8_t*>(bytes.data());
  r.ids.resize(static_cast<size_t>(a.count));
  for (int64_t t = 0; t < r.tokens; ++t)
    for (int64_t l = 0; l < r.layers; ++l) {
      int32_t* row = &r.ids[static_cast<size_t>((l * r.tokens + t) * r.k)];
      for (int64_t i = 0; i < r.k; ++i) {
        const int64_t at = (t * r.layers + l) * r.k + i;
        const int64_t id = a.integer(at);
        if (id < 0 || id >= E)
          throw input_error(in, fmt::format("[{}][{}][{}] (byte offset {})", t, l, i, data_at + at * a.item_bytes),
                            fmt::format("expert id {} out of range [0, {})", id, E));
        row[i] = static_cast<int32_t>(id);
      }
      check_distinct(row, r.k, [&](int64_t i) {
        throw input_error(in, fmt::format("[{}][{}][{}] (byte offset {})", t, l, i, data_at + ((t * r.layers + l) * r.k + i) * a.item_bytes),
                          fmt::format("expert {} appears twice in one token's top-k", row[i]));
      });
    }
  return r;
}

Routed from_json(const std::string& in, int64_t E) {
  const auto doc = import::load_json(in);
  auto o = doc.root().as_object();
  const auto tokens = o.required("routed_experts").as_array(1, SIZE_MAX);
  Routed r;
  r.tokens = static_cast<int64_t>(tokens.size());
  std::vector<std::vector<JsonValue>> per_token;
  for (const auto& t : tokens) {
    const auto layers = t.as_array(1, 1 << 20);
    if (r.layers == 0) r.layers = static_cast<int64_t>(layers.size());
    if (static_cast<int64_t>(layers.size()) != r.layers)
      t.fail(fmt::format("wrong layer count: {} MoE layers, but token 0 has {}", layers.size(), r.layers));
    per_token.push_back(layers);
  }
  for (int64_t t = 0; t < r.tokens; ++t)
    for (int64_t l = 0; l < r.layers; ++l) {
      const auto& cell = per_token[static_cast<size_t>(t)][static_cast<size_t>(l)];
      const auto ids = cell.as_array(1, 1 << 16);
      if (r.k == 0) {
        r.k = static_cast<int64_t>(ids.size());
        r.ids.assign(static_cast<size_t>(r.tokens * r.layers * r.k), 0);
      }
      if (static_cast<int64_t>(ids.size()) != r.k) cell.fail(fmt::format("top-k mismatch: {} experts, but the first token has {}", ids.size(), r.k));
      int32_t* row = &r.ids[static_cast<size_t>((l * r.tokens + t) * r.k)];
      for (int64_t i = 0; i < r.k; ++i) row[i] = import::expert_id(ids[static_cast<size_t>(i)], E);
      check_distinct(row, r.k, [&](int64_t i) { ids[static_cast<size_t>(i)].fail(fmt::format("expert {} appears twice in one token's top-k", row[i])); });
    }
  return r;
}

}  // namespace

Imported import_vllm(const std::string& in, const ImportOptions& opt) {
  const int64_t E = import::expert_count(in, opt, 0, "vllm");
  char head[6] = {};
  check_input_file(in, kMaxBinaryFileBytes, "a routing file");
  std::ifstream probe(in, std::ios::binary);
  if (!probe) throw input_error(in, "", "cannot open file");
  probe.read(head, 6);
  const bool npy = probe.gcount() == 6 && std::string(head, 6) == "\x93NUMPY";
  Routed r = npy ? from_npy(in, E) : from_json(in, E);
  import::check_top_k(in, npy ? "shape[2]" : "$.routed_experts[0][0]", opt, r.k);
  if (r.k > E) throw input_error(in, "", fmt::format("top-k {} exceeds the {} experts (--experts)", r.k, E));
  Imported out;
  out.is_trace = true;
  TraceHeader& h = out.trace.header;
  auto resolved = import::model_and_layers(in, opt, E, r.layers, "vllm");
  h.model = resolved.model;
  h.num_experts = E;
  h.top_k = r.k;
  h.layers = std::move(resolved.layers);
  h.tokens = r.tokens;
  h.source = fmt::format("vllm: {} (vLLM --enable-return-routed-experts, routed_experts {})", import::base_name(in), npy ? ".npy" : "JSON");
  out.trace.ids = std::move(r.ids);
  return out;
}

}  // namespace moesim
