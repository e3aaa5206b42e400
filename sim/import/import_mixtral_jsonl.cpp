// Imports the per-token routing JSONL recorded with vLLM for Mixtral-8x7B-Instruct
// (github.com/Mario928/speculative-moe; ../shared/traces/mixtral-8x7b-token-routing/): one
// (token, layer) a line, {"dataset", "problem_id", "layer", "experts": [k ids],
// "gating_probs": [k renormalised weights], "token_idx" | "token_pos"}. Writes a trace with
// gate weights, tokens in the order they first appear.
//
// Token identity: `token_idx` numbers a problem's tokens, so (dataset, problem_id, token_idx)
// is a token and a repeated (token, layer) is an error. `token_pos` is the position inside one
// forward pass (decode steps are all at position 0), so a new forward pass starts whenever the
// layer goes down or a (position, layer) repeats, and a token is (dataset, problem_id, pass,
// token_pos).
//
// About 1% of records are missing (the recorder dropped records whose weights were exactly
// [0.5, 0.5]). --missing drop (default) drops every token that lacks a layer and says how
// many; --missing sample fills each missing (token, layer) with top-k distinct experts drawn,
// with seed --seed, from that layer's empirical expert distribution, weights 1/k each. The
// trace header's `source` says which.
#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "sim/import/import_util.h"
#include "sim/base/counter_rng.h"

namespace moesim {
namespace {

struct Token {
  std::vector<int32_t> ids;   // [layer][k]
  std::vector<float> weights; // [layer][k]
  std::vector<int64_t> line;  // line of each layer's record, 0 when missing
  int64_t present = 0;
};

using Key = std::tuple<std::string, int64_t, int64_t, int64_t>;  // dataset, problem, pass, position

// Draws k distinct experts, each with probability proportional to its count among those left.
void draw_experts(CounterRng& rng, std::vector<double> weight, int64_t k, int32_t* out) {
  for (int64_t i = 0; i < k; ++i) {
    double total = 0;
    for (double w : weight) total += w;
    size_t pick = 0;
    if (total <= 0) {
      std::vector<size_t> left;
      for (size_t e = 0; e < weight.size(); ++e)
        if (weight[e] >= 0) left.push_back(e);
      pick = left[rng.below(static_cast<uint32_t>(left.size()))];
    } else {
      double u = rng.uniform() * total;
      for (pick = 0; pick + 1 < weight.size(); ++pick) {
        if (weight[pick] > 0 && u < weight[pick]) break;
        if (weight[pick] > 0) u -= weight[pick];
      }
      while (weight[pick] <= 0) --pick;  // rounding at the end of the range
    }
    out[i] = static_cast<int32_t>(pick);
    weight[pick] = -1;  // taken
  }
}

}  // namespace

Imported import_mixtral_jsonl(const std::string& in, const ImportOptions& opt) {
  if (opt.missing != "drop" && opt.missing != "sample")
    throw InputError(fmt::format("--missing must be \"drop\" or \"sample\", got \"{}\"", opt.missing));
  const int64_t E = opt.experts > 0 ? opt.experts : 8;
  const int64_t K = opt.top_k > 0 ? opt.top_k : 2;
  if (K > E) throw InputError(fmt::format("--top-k {} exceeds the {} experts", K, E));
  std::vector<int64_t> layers = opt.layers;
  if (layers.empty())
    for (int64_t l = 0; l < 32; ++l) layers.push_back(l);
  std::map<int64_t, size_t> layer_index;
  for (size_t i = 0; i < layers.size(); ++i) layer_index[layers[i]] = i;
  const size_t L = layers.size();

  std::map<Key, size_t> token_of;
  std::vector<Token> tokens;
  // Forward-pass tracking for token_pos records, per (dataset, problem).
  struct Pass {
    int64_t index = 0, last_layer = -1;
    std::map<std::pair<int64_t, int64_t>, int64_t> seen;  // (position, layer) -> line
  };
  std::map<std::pair<std::string, int64_t>, Pass> passes;
  int64_t records = 0;

  import::for_each_jsonl(in, [&](int64_t line, const JsonValue& v) {
    auto o = v.as_object();
    const std::string dataset = o.has("dataset") ? o.required("dataset").as_string() : std::string();
    const int64_t problem = o.has("problem_id") ? o.required("problem_id").as_int(INT64_C(-1) << 53, INT64_C(1) << 53) : 0;
    const JsonValue layer_v = o.required("layer");
    const int64_t layer = layer_v.as_int(0, 1 << 20);
    const auto li = layer_index.find(layer);
    if (li == layer_index.end())
      layer_v.fail(fmt::format("wrong layer count: layer {} is not one of the {} layers {}..{} (pass --layers)", layer, L,
                               layers.front(), layers.back()));
    const bool by_idx = o.has("token_idx");
    if (!by_idx && !o.has("token_pos")) v.fail("missing required key \"token_idx\" (or \"token_pos\")");
    const int64_t pos = o.required(by_idx ? "token_idx" : "token_pos").as_int(0, INT64_C(1) << 40);
    const JsonValue experts_v = o.required("experts");
    const auto experts = experts_v.as_array();
    if (static_cast<int64_t>(experts.size()) != K)
      experts_v.fail(fmt::format("top-k mismatch: {} experts, expected top-k {} (--top-k)", experts.size(), K));
    const JsonValue probs_v = o.required("gating_probs");
    const auto probs = probs_v.as_array();
    if (probs.size() != experts.size())
      probs_v.fail(fmt::format("has {} weights for {} experts", probs.size(), experts.size()));
    std::vector<int32_t> ids(static_cast<size_t>(K));
    std::vector<float> w(static_cast<size_t>(K));
    for (size_t i = 0; i < experts.size(); ++i) {
      ids[i] = import::expert_id(experts[i], E);
      for (size_t j = 0; j < i; ++j)
        if (ids[j] == ids[i]) experts[i].fail(fmt::format("expert {} appears twice in one token's top-k", ids[i]));
      w[i] = static_cast<float>(probs[i].as_number(0.0, 1.0 + 1e-3));
    }
    int64_t pass = 0;
    if (!by_idx) {
      Pass& p = passes[{dataset, problem}];
      if (layer < p.last_layer || p.seen.count({pos, layer})) {
        ++p.index;
        p.seen.clear();
      }
      p.seen[{pos, layer}] = line;
      p.last_layer = layer;
      pass = p.index;
    }
    const Key key{dataset, problem, pass, pos};
    auto [it, fresh] = token_of.try_emplace(key, tokens.size());
    if (fresh) {
      tokens.emplace_back();
      tokens.back().ids.assign(L * K, -1);
      tokens.back().weights.assign(L * K, 0.0f);
      tokens.back().line.assign(L, 0);
    }
    Token& t = tokens[it->second];
    const size_t l = li->second;
    if (t.line[l])
      v.fail(fmt::format("duplicate record: token {} of {} problem {} at layer {} already came at line {}", pos, dataset, problem, layer, t.line[l]));
    t.line[l] = line;
    ++t.present;
    std::copy(ids.begin(), ids.end(), t.ids.begin() + static_cast<std::ptrdiff_t>(l * K));
    std::copy(w.begin(), w.end(), t.weights.begin() + static_cast<std::ptrdiff_t>(l * K));
    ++records;
  });

  std::vector<int64_t> seen_layers;
  std::vector<std::vector<double>> layer_counts(L, std::vector<double>(static_cast<size_t>(E), 0.0));
  for (const Token& t : tokens)
    for (size_t l = 0; l < L; ++l)
      if (t.line[l])
        for (int64_t k = 0; k < K; ++k) layer_counts[l][static_cast<size_t>(t.ids[l * K + k])] += 1;
  for (size_t l = 0; l < L; ++l) {
    double n = 0;
    for (double x : layer_counts[l]) n += x;
    if (n == 0) throw input_error(in, "", fmt::format("wrong layer count: no record has layer {} (pass --layers to list the layers present)", layers[l]));
  }

  const int64_t missing = static_cast<int64_t>(tokens.size() * L) - records;
  std::vector<const Token*> keep;
  for (Token& t : tokens) {
    if (t.present == static_cast<int64_t>(L)) keep.push_back(&t);
    else if (opt.missing == "sample") {
      const size_t index = static_cast<size_t>(&t - tokens.data());
      for (size_t l = 0; l < L; ++l) {
        if (t.line[l]) continue;
        CounterRng rng(opt.seed, index, l, 0x4d495353);
        draw_experts(rng, layer_counts[l], K, &t.ids[l * K]);
        std::fill_n(t.weights.begin() + static_cast<std::ptrdiff_t>(l * K), K, 1.0f / static_cast<float>(K));
      }
      keep.push_back(&t);
    }
  }
  const int64_t dropped = static_cast<int64_t>(tokens.size() - keep.size());
  if (keep.empty())
    throw input_error(in, "", fmt::format("no token has a record for each of the {} layers ({} tokens); try --missing sample", L, tokens.size()));

  Imported out;
  out.is_trace = true;
  TraceHeader& h = out.trace.header;
  h.model = import::model_name(opt, "mixtral-8x7b", "mixtral-jsonl");
  h.num_experts = E;
  h.top_k = K;
  h.layers = layers;
  h.tokens = static_cast<int64_t>(keep.size());
  const std::string what = opt.missing == "drop"
      ? fmt::format("--missing drop: {} of {} tokens dropped for lacking a layer ({} of {} (token, layer) records missing)",
                    dropped, tokens.size(), missing, tokens.size() * L)
      : fmt::format("--missing sample: {} of {} (token, layer) records missing, filled by seeded draws (seed {}) from each "
                    "layer's expert distribution with weights 1/{}", missing, tokens.size() * L, opt.seed, K);
  h.source = fmt::format("mixtral-jsonl: {} (vLLM per-token routing recorder, Mario928/speculative-moe); {}", import::base_name(in), what);
  out.notes.push_back(what);
  auto& ids = out.trace.ids;
  auto& weights = out.trace.weights;
  ids.resize(L * keep.size() * static_cast<size_t>(K));
  weights.resize(ids.size());
  for (size_t l = 0; l < L; ++l)
    for (size_t t = 0; t < keep.size(); ++t)
      for (int64_t k = 0; k < K; ++k) {
        const size_t at = (l * keep.size() + t) * static_cast<size_t>(K) + static_cast<size_t>(k);
        ids[at] = keep[t]->ids[l * K + k];
        weights[at] = keep[t]->weights[l * K + k];
      }
  return out;
}

}  // namespace moesim
