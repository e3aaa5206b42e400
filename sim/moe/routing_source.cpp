#include "sim/moe/routing_source.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/io/expert_counts_file.h"
#include "sim/moe/routing_memo.h"
#include "sim/io/routing_trace.h"
#include "sim/base/counter_rng.h"
#include "sim/moe/deepep_bench_gate.h"
#include "sim/moe/expert_sampler_cache.h"

namespace moesim {

namespace {

// "3..60" (or "0..31" or "1, 3, 5") for messages.
std::string moe_layer_span(const ModelConfig& m) {
  std::vector<int64_t> ids;
  for (int64_t l = 0; l < m.num_layers; ++l)
    if (m.layer_is_moe[l]) ids.push_back(l);
  if (ids.empty()) return "none";
  if (ids.back() - ids.front() + 1 == static_cast<int64_t>(ids.size())) return fmt::format("{}..{}", ids.front(), ids.back());
  return fmt::format("{} of them, {}..{}", ids.size(), ids.front(), ids.back());
}

// The Zipf weight of each popularity rank, 1 / (rank + 1)^exponent.
std::vector<double> zipf_rank_weights(int64_t experts, double exponent) {
  std::vector<double> w(static_cast<size_t>(experts));
  for (int64_t r = 0; r < experts; ++r) w[static_cast<size_t>(r)] = 1.0 / std::pow(static_cast<double>(r + 1), exponent);
  return w;
}

// The rank weights on the layer's seeded permutation of the experts.
std::vector<double> permuted_zipf(const std::vector<double>& by_rank, uint64_t seed, int64_t layer) {
  const auto experts = static_cast<int64_t>(by_rank.size());
  std::vector<int64_t> perm(static_cast<size_t>(experts));
  std::iota(perm.begin(), perm.end(), 0);
  CounterRng rng(seed, 0x5a1f, static_cast<uint64_t>(layer));
  for (int64_t i = experts - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<uint32_t>(i + 1))]);
  std::vector<double> w(static_cast<size_t>(experts));
  for (int64_t r = 0; r < experts; ++r) w[perm[r]] = by_rank[r];
  return w;
}

}  // namespace

std::vector<double> zipf_weights(int64_t experts, double exponent, uint64_t seed, int64_t layer) {
  return permuted_zipf(zipf_rank_weights(experts, exponent), seed, layer);
}

namespace {

// Draws per-token top-k choices from one expert distribution per MoE layer. A layer's sampler (its
// alias tables: most of the cost of building a scenario) is built on first use, so validating a
// sweep point, which builds the scenario but draws nothing, does not pay for it.
class SampledRouting : public RoutingSource {
 public:
  // weights_of(layer): the expert popularity of a MoE layer (called once per layer, on first use).
  using Weights = std::function<std::vector<double>(int64_t layer)>;
  SampledRouting(const RoutingConfig& c, const ModelConfig& model, Weights weights_of, Json summary)
      : seed_(c.seed),
        summary_(std::move(summary)),
        weights_of_(std::move(weights_of)),
        is_moe_(model.layer_is_moe),
        top_k_(static_cast<int>(model.moe.top_k)),
        samplers_(static_cast<size_t>(model.num_layers)),
        built_(std::make_unique<std::once_flag[]>(static_cast<size_t>(model.num_layers))) {
    const auto& moe = model.moe;
    const bool groups = c.group_limited && moe.topk_groups < moe.num_groups;
    groups_ = groups ? static_cast<int>(moe.num_groups) : 1;
    topk_groups_ = groups ? static_cast<int>(moe.topk_groups) : 1;
  }
  void fill(int64_t layer, int64_t micro_batch, int64_t device, int64_t tokens, RoutingBatch& out) const override {
    const auto& s = sampler(layer);
    out.tokens = tokens;
    out.experts.resize(static_cast<size_t>(tokens) * out.top_k);
    out.weights.clear();
    auto& memo = SampledRoutingMemo::instance();
    const SampledRoutingMemo::Key key{&s, seed_, layer, micro_batch, device};
    if (memo.enabled() && memo.copy(key, out.experts.size(), out.experts.data())) return;
    CounterRng rng(seed_, static_cast<uint64_t>(layer), static_cast<uint64_t>(micro_batch), static_cast<uint64_t>(device));
    s.sample_tokens(rng, tokens, out.experts.data());
    if (memo.enabled()) memo.store(key, samplers_[static_cast<size_t>(layer)], out.experts.data(), out.experts.size());
  }
  Json summary() const override { return summary_; }
  std::vector<double> expected_load(int64_t layer) const override { return sampler(layer).probabilities(); }

 private:
  // Layer `layer`'s sampler, built once (std::call_once: the layer pass's threads share it).
  const ExpertSampler& sampler(int64_t layer) const {
    const auto l = static_cast<size_t>(layer);
    if (l >= samplers_.size() || !is_moe_[l]) throw std::out_of_range(fmt::format("routing: layer {} is not a MoE layer", layer));
    std::call_once(built_[l], [&] { samplers_[l] = shared_expert_sampler(weights_of_(layer), top_k_, groups_, topk_groups_); });
    return *samplers_[l];
  }

  uint64_t seed_;
  Json summary_;
  Weights weights_of_;
  std::vector<bool> is_moe_;  // per model layer
  int top_k_, groups_ = 1, topk_groups_ = 1;
  mutable std::vector<std::shared_ptr<const ExpertSampler>> samplers_;
  std::unique_ptr<std::once_flag[]> built_;
};

// DeepEP's benchmark gate (deepep_bench_gate.h), one stream per (layer, micro-batch, device).
class DeepEpBenchRouting : public RoutingSource {
 public:
  DeepEpBenchRouting(const RoutingConfig& c, const ModelConfig& model)
      : seed_(c.seed),
        experts_(model.moe.num_experts),
        gate_(model.moe.num_experts, model.moe.top_k, c.group_limited ? model.moe.num_groups : 1, c.group_limited ? model.moe.topk_groups : 1) {}
  void fill(int64_t layer, int64_t micro_batch, int64_t device, int64_t tokens, RoutingBatch& out) const override {
    CounterRng rng(seed_, kStream + static_cast<uint64_t>(layer), static_cast<uint64_t>(device), static_cast<uint64_t>(micro_batch));
    out.tokens = tokens;
    out.experts.resize(static_cast<size_t>(tokens) * out.top_k);
    out.weights.clear();
    gate_.route(rng, tokens, out.experts.data());
  }
  Json summary() const override { return {{"source", "synthetic"}, {"distribution", "deepep-bench"}}; }
  std::vector<double> expected_load(int64_t) const override { return std::vector<double>(static_cast<size_t>(experts_), 1.0); }

 private:
  static constexpr uint64_t kStream = 0xDEE9;  // layer 0, micro-batch 0: the stream `moesim comm a2a` has always used
  uint64_t seed_;
  int64_t experts_;
  DeepEpBenchGate gate_;
};

std::unique_ptr<RoutingSource> make_synthetic(const RoutingConfig& c, const RoutingInputs& in) {
  const ModelConfig& m = *in.model;
  if (c.distribution == "deepep-bench") return std::make_unique<DeepEpBenchRouting>(c, m);
  const double s = c.distribution == "uniform" ? 0.0 : c.zipf_exponent;
  Json summary = {{"source", "synthetic"}, {"distribution", c.distribution}, {"zipf_exponent", s}};
  const int64_t experts = m.moe.num_experts;
  const uint64_t seed = c.seed;
  // The rank weights once per source (a pow per expert), the permutation per layer.
  auto by_rank = std::make_shared<const std::vector<double>>(zipf_rank_weights(experts, s));
  return std::make_unique<SampledRouting>(c, m, [=](int64_t l) { return permuted_zipf(*by_rank, seed, l); }, summary);
}

std::unique_ptr<RoutingSource> make_counts(const RoutingConfig& rc, const RoutingInputs& in) {
  const ModelConfig& model = *in.model;
  const auto counts = load_expert_counts(rc.file);
  if (counts.num_experts != model.moe.num_experts)
    throw input_error(rc.file, "", fmt::format("has {} experts per layer but model {} has {}", counts.num_experts, model.name, model.moe.num_experts));
  if (counts.top_k && counts.top_k != model.moe.top_k)
    throw input_error(rc.file, "$.top_k", fmt::format("top_k {} does not match model {}'s top_k {}", counts.top_k, model.name, model.moe.top_k));
  std::vector<std::vector<double>> w(model.num_layers);
  // Rows are matched to model layers by layer id; a file that lists only the MoE layers in order
  // (as many rows as MoE layers, ids 0..n-1) is matched in order.
  bool ids_are_positions = true;
  for (size_t r = 0; r < counts.layers.size(); ++r) ids_are_positions = ids_are_positions && counts.layers[r] == static_cast<int64_t>(r);
  bool ids_are_moe_layers = true;
  for (int64_t id : counts.layers) ids_are_moe_layers = ids_are_moe_layers && id >= 0 && id < model.num_layers && model.layer_is_moe[id];
  const bool by_moe_index = static_cast<int64_t>(counts.layers.size()) == model.num_moe_layers() &&
                            counts.layers.size() != static_cast<size_t>(model.num_layers) && ids_are_positions && !ids_are_moe_layers;
  // A row that no MoE layer takes must hold no tokens (SGLang's dense rows are zero); otherwise its
  // routing would be silently unused.
  if (!by_moe_index)
    for (size_t r = 0; r < counts.layers.size(); ++r) {
      const int64_t id = counts.layers[r];
      const bool moe = id >= 0 && id < model.num_layers && model.layer_is_moe[id];
      if (!moe && std::accumulate(counts.counts[r].begin(), counts.counts[r].end(), 0.0) > 0)
        throw input_error(rc.file, fmt::format("$.layers[{}]", r),
                          fmt::format("layer {} holds routing but is not an MoE layer of model {} (MoE layers {}); the file is another model's or its layer ids are shifted",
                                      id, model.name, moe_layer_span(model)));
    }
  int64_t moe_index = 0;
  for (int64_t l = 0; l < model.num_layers; ++l) {
    if (!model.layer_is_moe[l]) continue;
    int64_t row = -1;
    for (size_t r = 0; r < counts.layers.size(); ++r)
      if ((by_moe_index ? moe_index : l) == counts.layers[r]) row = static_cast<int64_t>(r);
    ++moe_index;
    if (row < 0) throw input_error(rc.file, "", fmt::format("has no counts for MoE layer {} of model {}", l, model.name));
    const auto& r = counts.counts[row];
    if (std::accumulate(r.begin(), r.end(), 0.0) <= 0)
      throw input_error(rc.file, fmt::format("row {}", row), fmt::format("all counts are zero for MoE layer {}", l));
    w[l] = r;
  }
  Json summary = {{"source", "counts"}, {"file", rc.file_as_written}, {"format", counts.format}};
  auto shared = std::make_shared<const std::vector<std::vector<double>>>(std::move(w));
  return std::make_unique<SampledRouting>(rc, model, [shared](int64_t l) { return (*shared)[static_cast<size_t>(l)]; }, summary);
}

// Replays a per-token trace. Token i of device d in micro-batch m is trace token
// ((m * devices + d) * tokens + i) mod trace_tokens: the trace is laid over the devices in order
// and wraps around when the experiment needs more tokens than it holds.
class TraceRouting : public RoutingSource {
 public:
  TraceRouting(const RoutingConfig& rc, const RoutingInputs& in) : trace_(rc.file), file_(rc.file_as_written), devices_(in.devices) {
    const ModelConfig& model = *in.model;
    const auto& h = trace_.header();
    if (h.num_experts != model.moe.num_experts)
      throw input_error(rc.file, "meta.num_experts", fmt::format("{} experts but model {} has {}", h.num_experts, model.name, model.moe.num_experts));
    if (h.top_k != model.moe.top_k)
      throw input_error(rc.file, "meta.top_k", fmt::format("top_k {} but model {} has top_k {}", h.top_k, model.name, model.moe.top_k));
    layer_row_.assign(model.num_layers, -1);
    for (size_t r = 0; r < h.layers.size(); ++r) {
      if (h.layers[r] < 0 || h.layers[r] >= model.num_layers || !model.layer_is_moe[h.layers[r]])
        throw input_error(rc.file, fmt::format("meta.layers[{}]", r), fmt::format("layer {} is not an MoE layer of model {}", h.layers[r], model.name));
      layer_row_[h.layers[r]] = static_cast<int64_t>(r);
    }
    for (int64_t l = 0; l < model.num_layers; ++l)
      if (model.layer_is_moe[l] && layer_row_[l] < 0)
        throw input_error(rc.file, "meta.layers", fmt::format("has no routing for MoE layer {} of model {} ({} layers stored)", l, model.name, h.layers.size()));
    needed_ = in.micro_batches * devices_ * in.tokens_per_device;
  }
  void fill(int64_t layer, int64_t micro_batch, int64_t device, int64_t tokens, RoutingBatch& out) const override {
    const auto& h = trace_.header();
    out.tokens = tokens;
    out.experts.resize(static_cast<size_t>(tokens) * out.top_k);
    out.weights.assign(trace_.has_weights() ? out.experts.size() : 0, 0.0f);
    const int64_t first = (micro_batch * devices_ + device) * tokens;
    // In runs of consecutive stored tokens (the trace wraps around when it is too short).
    for (int64_t t = 0; t < tokens;) {
      const int64_t from = (first + t) % h.tokens, run = std::min(tokens - t, h.tokens - from);
      trace_.read_tokens(static_cast<size_t>(layer_row_[layer]), from, run, out.experts.data() + t * out.top_k,
                         out.weights.empty() ? nullptr : out.weights.data() + t * out.top_k);
      t += run;
    }
  }
  std::vector<double> expected_load(int64_t layer) const override {
    const auto& h = trace_.header();
    std::vector<double> load(h.num_experts, 0.0);
    constexpr int64_t kChunk = 4096;  // tokens read at once
    std::vector<int32_t> ids(static_cast<size_t>(kChunk * h.top_k));
    for (int64_t t = 0; t < h.tokens; t += kChunk) {
      const int64_t n = std::min(kChunk, h.tokens - t);
      trace_.read_tokens(static_cast<size_t>(layer_row_[layer]), t, n, ids.data(), nullptr);
      for (int64_t i = 0; i < n * h.top_k; ++i) load[ids[i]] += 1.0;
    }
    return load;
  }
  Json summary() const override {
    return {{"source", "trace"}, {"file", file_}, {"model", trace_.header().model}, {"trace_source", trace_.header().source}, {"trace_tokens", trace_.header().tokens},
            {"tokens_needed", needed_}, {"wrapped", needed_ > trace_.header().tokens}, {"has_weights", trace_.has_weights()}};
  }

 private:
  RoutingTrace trace_;
  std::string file_;
  int64_t devices_;
  int64_t needed_ = 0;
  std::vector<int64_t> layer_row_;
};

std::unique_ptr<RoutingSource> make_trace(const RoutingConfig& c, const RoutingInputs& in) { return std::make_unique<TraceRouting>(c, in); }

RoutingRegistry build_registry() {
  RoutingRegistry r;
  r.add({"synthetic",
         "per-token top-k draws from a uniform or Zipf(s) expert popularity, seeded, hot experts permuted per layer; or DeepEP's "
         "benchmark gate (deepep-bench: i.i.d. scores, groups ranked by their best score)",
         "Zipf's law over experts; xoshiro256** (Blackman & Vigna 2018) keyed by (seed, layer, micro-batch, device); DeepEP "
         "tests/test_internode.py", &make_synthetic, {false}});
  r.add({"counts", "per-token top-k draws (without replacement, group-limited where the model is) from real per-layer expert counts",
         "SGLang expert-distribution recorder (logical_count); DeepSeek-V3 group-limited routing (arXiv:2412.19437)", &make_counts, {true}});
  r.add({"trace", "replay of a per-token routing trace in moesim's .npz format (see README: Trace format)",
         "moesim trace format; importers for SGLang, vLLM, Megatron, TensorRT-LLM recorders", &make_trace, {true}});
  return r;
}

}  // namespace

const RoutingRegistry& routing_registry() {
  static const RoutingRegistry registry = build_registry();
  return registry;
}

std::unique_ptr<RoutingSource> make_routing_source(const RoutingConfig& config, const RoutingInputs& inputs) {
  const auto* e = routing_registry().find(config.source);
  if (!e) throw std::invalid_argument("unknown routing source " + config.source);
  return e->factory(config, inputs);
}

}  // namespace moesim
