#include "sim/moe/routing_source.h"

#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "sim/app/experiment_config.h"
#include "sim/io/expert_counts_file.h"
#include "sim/io/routing_trace.h"
#include "sim/moe/counter_rng.h"
#include "sim/moe/expert_sampler.h"

namespace moesim {

std::vector<double> zipf_weights(int64_t experts, double exponent, uint64_t seed, int64_t layer) {
  std::vector<int64_t> perm(experts);
  std::iota(perm.begin(), perm.end(), 0);
  CounterRng rng(seed, 0x5a1f, static_cast<uint64_t>(layer));
  for (int64_t i = experts - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<uint32_t>(i + 1))]);
  std::vector<double> w(experts);
  for (int64_t r = 0; r < experts; ++r) w[perm[r]] = 1.0 / std::pow(static_cast<double>(r + 1), exponent);
  return w;
}

namespace {

// Draws per-token top-k choices from one expert distribution per MoE layer.
class SampledRouting : public RoutingSource {
 public:
  SampledRouting(const ExperimentConfig& c, std::vector<std::vector<double>> weights_by_layer, Json summary)
      : seed_(c.routing.seed), summary_(std::move(summary)) {
    const auto& moe = c.model.moe;
    const bool groups = c.routing.group_limited && moe.topk_groups < moe.num_groups;
    samplers_.resize(c.model.num_layers);
    for (int64_t l = 0; l < c.model.num_layers; ++l) {
      if (!c.model.layer_is_moe[l]) continue;
      samplers_[l] = std::make_unique<ExpertSampler>(weights_by_layer[l], static_cast<int>(moe.top_k),
                                                     groups ? static_cast<int>(moe.num_groups) : 1,
                                                     groups ? static_cast<int>(moe.topk_groups) : 1);
    }
  }
  void fill(int64_t layer, int64_t micro_batch, int64_t device, int64_t tokens, RoutingBatch& out) const override {
    const auto& s = *samplers_.at(layer);
    CounterRng rng(seed_, static_cast<uint64_t>(layer), static_cast<uint64_t>(micro_batch), static_cast<uint64_t>(device));
    out.tokens = tokens;
    out.experts.resize(static_cast<size_t>(tokens) * out.top_k);
    out.weights.clear();
    for (int64_t t = 0; t < tokens; ++t) s.sample(rng, out.experts.data() + t * out.top_k);
  }
  Json summary() const override { return summary_; }
  std::vector<double> expected_load(int64_t layer) const override { return samplers_.at(layer)->probabilities(); }

 private:
  uint64_t seed_;
  Json summary_;
  std::vector<std::unique_ptr<ExpertSampler>> samplers_;
};

std::unique_ptr<RoutingSource> make_synthetic(const ExperimentConfig& c) {
  const double s = c.routing.distribution == "uniform" ? 0.0 : c.routing.zipf_exponent;
  std::vector<std::vector<double>> w(c.model.num_layers);
  for (int64_t l = 0; l < c.model.num_layers; ++l)
    if (c.model.layer_is_moe[l]) w[l] = zipf_weights(c.model.moe.num_experts, s, c.routing.seed, l);
  Json summary = {{"source", "synthetic"}, {"distribution", c.routing.distribution}, {"zipf_exponent", s}};
  return std::make_unique<SampledRouting>(c, std::move(w), summary);
}

std::unique_ptr<RoutingSource> make_counts(const ExperimentConfig& c) {
  const auto counts = load_expert_counts(c.routing.file);
  if (counts.num_experts != c.model.moe.num_experts)
    throw input_error(c.routing.file, "", fmt::format("has {} experts per layer but model {} has {}", counts.num_experts, c.model.name, c.model.moe.num_experts));
  if (counts.top_k && counts.top_k != c.model.moe.top_k)
    throw input_error(c.routing.file, "$.top_k", fmt::format("top_k {} does not match model {}'s top_k {}", counts.top_k, c.model.name, c.model.moe.top_k));
  std::vector<std::vector<double>> w(c.model.num_layers);
  // Rows are matched to model layers by layer id; a file that lists only the MoE layers in order
  // (as many rows as MoE layers, ids 0..n-1) is matched in order.
  const bool by_moe_index = static_cast<int64_t>(counts.layers.size()) == c.model.num_moe_layers() &&
                            counts.layers.size() != static_cast<size_t>(c.model.num_layers);
  int64_t moe_index = 0;
  for (int64_t l = 0; l < c.model.num_layers; ++l) {
    if (!c.model.layer_is_moe[l]) continue;
    int64_t row = -1;
    for (size_t r = 0; r < counts.layers.size(); ++r)
      if ((by_moe_index ? moe_index : l) == counts.layers[r]) row = static_cast<int64_t>(r);
    ++moe_index;
    if (row < 0) throw input_error(c.routing.file, "", fmt::format("has no counts for MoE layer {} of model {}", l, c.model.name));
    const auto& r = counts.counts[row];
    if (std::accumulate(r.begin(), r.end(), 0.0) <= 0)
      throw input_error(c.routing.file, fmt::format("row {}", row), fmt::format("all counts are zero for MoE layer {}", l));
    w[l] = r;
  }
  Json summary = {{"source", "counts"}, {"file", c.routing.file_as_written}, {"format", counts.format}};
  return std::make_unique<SampledRouting>(c, std::move(w), summary);
}

// Replays a per-token trace. Token i of device d in micro-batch m is trace token
// ((m * devices + d) * tokens + i) mod trace_tokens: the trace is laid over the devices in order
// and wraps around when the experiment needs more tokens than it holds.
class TraceRouting : public RoutingSource {
 public:
  explicit TraceRouting(const ExperimentConfig& c) : trace_(c.routing.file), file_(c.routing.file_as_written), devices_(c.cluster.devices()) {
    const auto& h = trace_.header();
    if (h.num_experts != c.model.moe.num_experts)
      throw input_error(c.routing.file, "meta.num_experts", fmt::format("{} experts but model {} has {}", h.num_experts, c.model.name, c.model.moe.num_experts));
    if (h.top_k != c.model.moe.top_k)
      throw input_error(c.routing.file, "meta.top_k", fmt::format("top_k {} but model {} has top_k {}", h.top_k, c.model.name, c.model.moe.top_k));
    layer_row_.assign(c.model.num_layers, -1);
    for (size_t r = 0; r < h.layers.size(); ++r) {
      if (h.layers[r] < 0 || h.layers[r] >= c.model.num_layers || !c.model.layer_is_moe[h.layers[r]])
        throw input_error(c.routing.file, fmt::format("meta.layers[{}]", r), fmt::format("layer {} is not an MoE layer of model {}", h.layers[r], c.model.name));
      layer_row_[h.layers[r]] = static_cast<int64_t>(r);
    }
    for (int64_t l = 0; l < c.model.num_layers; ++l)
      if (c.model.layer_is_moe[l] && layer_row_[l] < 0)
        throw input_error(c.routing.file, "meta.layers", fmt::format("has no routing for MoE layer {} of model {} ({} layers stored)", l, c.model.name, h.layers.size()));
    needed_ = c.workload.micro_batches * devices_ * c.workload.tokens_per_device;
  }
  void fill(int64_t layer, int64_t micro_batch, int64_t device, int64_t tokens, RoutingBatch& out) const override {
    const auto& h = trace_.header();
    out.tokens = tokens;
    out.experts.resize(static_cast<size_t>(tokens) * out.top_k);
    out.weights.assign(trace_.has_weights() ? out.experts.size() : 0, 0.0f);
    const int64_t first = (micro_batch * devices_ + device) * tokens;
    for (int64_t t = 0; t < tokens; ++t)
      trace_.read_token(static_cast<size_t>(layer_row_[layer]), (first + t) % h.tokens, out.experts.data() + t * out.top_k,
                        out.weights.empty() ? nullptr : out.weights.data() + t * out.top_k);
  }
  std::vector<double> expected_load(int64_t layer) const override {
    const auto& h = trace_.header();
    std::vector<double> load(h.num_experts, 0.0);
    std::vector<int32_t> ids(h.top_k);
    for (int64_t t = 0; t < h.tokens; ++t) {
      trace_.read_token(static_cast<size_t>(layer_row_[layer]), t, ids.data(), nullptr);
      for (int32_t e : ids) load[e] += 1.0;
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

Registry<RoutingFactory> build_registry() {
  Registry<RoutingFactory> r;
  r.add({"synthetic", "per-token top-k draws from a uniform or Zipf(s) expert popularity, seeded, hot experts permuted per layer",
         "Zipf's law over experts; xoshiro256** (Blackman & Vigna 2018) keyed by (seed, layer, micro-batch, device)", &make_synthetic});
  r.add({"counts", "per-token top-k draws (without replacement, group-limited where the model is) from real per-layer expert counts",
         "SGLang expert-distribution recorder (logical_count); DeepSeek-V3 group-limited routing (arXiv:2412.19437)", &make_counts});
  r.add({"trace", "replay of a per-token routing trace in moesim's .npz format (see README: Trace format)",
         "moesim trace format; importers for SGLang, vLLM, Megatron, TensorRT-LLM recorders", [](const ExperimentConfig& c) -> std::unique_ptr<RoutingSource> { return std::make_unique<TraceRouting>(c); }});
  return r;
}

}  // namespace

const Registry<RoutingFactory>& routing_registry() {
  static const Registry<RoutingFactory> registry = build_registry();
  return registry;
}

std::unique_ptr<RoutingSource> make_routing_source(const ExperimentConfig& config) {
  const auto* e = routing_registry().find(config.routing.source);
  if (!e) throw input_error(config.file, "$.routing.source", "unknown routing source " + config.routing.source);
  return e->factory(config);
}

}  // namespace moesim
