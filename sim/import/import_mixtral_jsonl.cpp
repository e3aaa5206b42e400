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

// The expert count, top-k and layers to import (--experts, --top-k, --layers or Mixtral's 8, 2, 0..31).
struct Shape {
  int64_t E = 0;
  int64_t K = 0;
  std::vector<int64_t> layers;
  std::map<int64_t, size_t> layer_index;  // layer id -> position in `layers`
  size_t L = 0;
};

Shape resolve_shape(const ImportOptions& opt) {
  if (opt.missing != "drop" && opt.missing != "sample")
    throw InputError(fmt::format("--missing must be \"drop\" or \"sample\", got \"{}\"", opt.missing));
  Shape s;
  s.E = opt.experts > 0 ? opt.experts : 8;
  s.K = opt.top_k > 0 ? opt.top_k : 2;
  if (s.K > s.E) throw InputError(fmt::format("--top-k {} exceeds the {} experts", s.K, s.E));
  s.layers = opt.layers;
  if (s.layers.empty())
    for (int64_t l = 0; l < 32; ++l) s.layers.push_back(l);
  for (size_t i = 0; i < s.layers.size(); ++i) s.layer_index[s.layers[i]] = i;
  s.L = s.layers.size();
  return s;
}

// One (token, layer) record, checked against the shape.
struct Record {
  std::string dataset;
  int64_t problem = 0;
  int64_t layer = 0;
  size_t l = 0;  // position of `layer` in Shape::layers
  bool by_idx = false;
  int64_t pos = 0;
  std::vector<int32_t> ids;
  std::vector<float> w;
};

Record parse_record(const JsonValue& v, const Shape& s) {
  auto o = v.as_object();
  Record r;
  r.dataset = o.has("dataset") ? o.required("dataset").as_string() : std::string();
  r.problem = o.has("problem_id") ? o.required("problem_id").as_int(INT64_C(-1) << 53, INT64_C(1) << 53) : 0;
  const JsonValue layer_v = o.required("layer");
  r.layer = layer_v.as_int(0, 1 << 20);
  const auto li = s.layer_index.find(r.layer);
  if (li == s.layer_index.end())
    layer_v.fail(fmt::format("wrong layer count: layer {} is not one of the {} layers {}..{} (pass --layers)", r.layer, s.L,
                             s.layers.front(), s.layers.back()));
  r.l = li->second;
  r.by_idx = o.has("token_idx");
  if (!r.by_idx && !o.has("token_pos")) v.fail("missing required key \"token_idx\" (or \"token_pos\")");
  r.pos = o.required(r.by_idx ? "token_idx" : "token_pos").as_int(0, INT64_C(1) << 40);
  const JsonValue experts_v = o.required("experts");
  const auto experts = experts_v.as_array();
  if (static_cast<int64_t>(experts.size()) != s.K)
    experts_v.fail(fmt::format("top-k mismatch: {} experts, expected top-k {} (--top-k)", experts.size(), s.K));
  const JsonValue probs_v = o.required("gating_probs");
  const auto probs = probs_v.as_array();
  if (probs.size() != experts.size()) probs_v.fail(fmt::format("has {} weights for {} experts", probs.size(), experts.size()));
  r.ids.resize(static_cast<size_t>(s.K));
  r.w.resize(static_cast<size_t>(s.K));
  for (size_t i = 0; i < experts.size(); ++i) {
    r.ids[i] = import::expert_id(experts[i], s.E);
    for (size_t j = 0; j < i; ++j)
      if (r.ids[j] == r.ids[i]) experts[i].fail(fmt::format("expert {} appears twice in one token's top-k", r.ids[i]));
    r.w[i] = static_cast<float>(probs[i].as_number(0.0, 1.0 + 1e-3));
  }
  return r;
}

// Gathers records into tokens, in the order tokens first appear.
class TokenTable {
 public:
  explicit TokenTable(const Shape& s) : s_(s) {}

  void add(int64_t line, const JsonValue& v, const Record& r) {
    const Key key{r.dataset, r.problem, r.by_idx ? 0 : pass_of(line, r), r.pos};
    auto [it, fresh] = token_of_.try_emplace(key, tokens_.size());
    if (fresh) {
      tokens_.emplace_back();
      tokens_.back().ids.assign(s_.L * s_.K, -1);
      tokens_.back().weights.assign(s_.L * s_.K, 0.0f);
      tokens_.back().line.assign(s_.L, 0);
    }
    Token& t = tokens_[it->second];
    const size_t l = r.l;
    if (t.line[l])
      v.fail(fmt::format("duplicate record: token {} of {} problem {} at layer {} already came at line {}", r.pos, r.dataset, r.problem,
                         r.layer, t.line[l]));
    t.line[l] = line;
    ++t.present;
    std::copy(r.ids.begin(), r.ids.end(), t.ids.begin() + static_cast<std::ptrdiff_t>(l * s_.K));
    std::copy(r.w.begin(), r.w.end(), t.weights.begin() + static_cast<std::ptrdiff_t>(l * s_.K));
    ++records_;
  }

  std::vector<Token>& tokens() { return tokens_; }
  int64_t records() const { return records_; }

 private:
  // Forward-pass tracking for token_pos records, per (dataset, problem).
  struct Pass {
    int64_t index = 0, last_layer = -1;
    std::map<std::pair<int64_t, int64_t>, int64_t> seen;  // (position, layer) -> line
  };

  // The forward pass a token_pos record belongs to: a new one starts when the layer goes down or
  // a (position, layer) repeats.
  int64_t pass_of(int64_t line, const Record& r) {
    Pass& p = passes_[{r.dataset, r.problem}];
    if (r.layer < p.last_layer || p.seen.count({r.pos, r.layer})) {
      ++p.index;
      p.seen.clear();
    }
    p.seen[{r.pos, r.layer}] = line;
    p.last_layer = r.layer;
    return p.index;
  }

  const Shape& s_;
  std::map<Key, size_t> token_of_;
  std::vector<Token> tokens_;
  std::map<std::pair<std::string, int64_t>, Pass> passes_;
  int64_t records_ = 0;
};

// How often each expert is chosen at each layer ([layer][expert]); InputError when a layer has no record.
std::vector<std::vector<double>> count_layer_experts(const std::string& in, const Shape& s, const std::vector<Token>& tokens) {
  const size_t L = s.L;
  const int64_t K = s.K;
  std::vector<std::vector<double>> layer_counts(L, std::vector<double>(static_cast<size_t>(s.E), 0.0));
  for (const Token& t : tokens)
    for (size_t l = 0; l < L; ++l)
      if (t.line[l])
        for (int64_t k = 0; k < K; ++k) layer_counts[l][static_cast<size_t>(t.ids[l * K + k])] += 1;
  for (size_t l = 0; l < L; ++l) {
    double n = 0;
    for (double x : layer_counts[l]) n += x;
    if (n == 0)
      throw input_error(in, "", fmt::format("wrong layer count: no record has layer {} (pass --layers to list the layers present)", s.layers[l]));
  }
  return layer_counts;
}

// The tokens to write: those with every layer, plus (--missing sample) the others with their
// missing layers drawn from `layer_counts`.
std::vector<const Token*> complete_tokens(const std::string& in, const ImportOptions& opt, const Shape& s, std::vector<Token>& tokens,
                                          const std::vector<std::vector<double>>& layer_counts) {
  const size_t L = s.L;
  const int64_t K = s.K;
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
  if (keep.empty())
    throw input_error(in, "", fmt::format("no token has a record for each of the {} layers ({} tokens); try --missing sample", L, tokens.size()));
  return keep;
}

// The trace of the kept tokens, layer-major, with its header and the note on missing records.
Imported make_trace(const std::string& in, const ImportOptions& opt, const Shape& s, size_t total_tokens, int64_t records,
                    const std::vector<const Token*>& keep) {
  const size_t L = s.L;
  const int64_t K = s.K;
  const int64_t missing = static_cast<int64_t>(total_tokens * L) - records;
  const int64_t dropped = static_cast<int64_t>(total_tokens - keep.size());
  Imported out;
  out.is_trace = true;
  TraceHeader& h = out.trace.header;
  h.model = import::model_name(opt, "mixtral-8x7b", "mixtral-jsonl");
  h.num_experts = s.E;
  h.top_k = K;
  h.layers = s.layers;
  h.tokens = static_cast<int64_t>(keep.size());
  const std::string what = opt.missing == "drop"
      ? fmt::format("--missing drop: {} of {} tokens dropped for lacking a layer ({} of {} (token, layer) records missing)",
                    dropped, total_tokens, missing, total_tokens * L)
      : fmt::format("--missing sample: {} of {} (token, layer) records missing, filled by seeded draws (seed {}) from each "
                    "layer's expert distribution with weights 1/{}", missing, total_tokens * L, opt.seed, K);
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

}  // namespace

Imported import_mixtral_jsonl(const std::string& in, const ImportOptions& opt) {
  const Shape shape = resolve_shape(opt);
  TokenTable table(shape);
  import::for_each_jsonl(in, [&](int64_t line, const JsonValue& v) { table.add(line, v, parse_record(v, shape)); });
  std::vector<Token>& tokens = table.tokens();
  const auto layer_counts = count_layer_experts(in, shape, tokens);
  const auto keep = complete_tokens(in, opt, shape, tokens, layer_counts);
  return make_trace(in, opt, shape, tokens.size(), table.records(), keep);
}

}  // namespace moesim
