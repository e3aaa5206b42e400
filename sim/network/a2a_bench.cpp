#include "sim/network/a2a_bench.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/moe/counter_rng.h"
#include "sim/network/a2a.h"

namespace moesim {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TokenRouter deepep_bench_router(int64_t E, int64_t K, int64_t groups, int64_t topk_groups, uint64_t seed) {
  if (groups < 1 || E % groups != 0 || topk_groups < 1 || topk_groups > groups || K > E / groups * topk_groups)
    throw std::invalid_argument("deepep-bench routing: groups must divide the experts and hold top_k experts");
  return [=](int64_t device, int64_t tokens, std::vector<int32_t>& ids) {
    CounterRng rng(seed, 0xDEE9, static_cast<uint64_t>(device));
    const int64_t per = E / groups;
    std::vector<double> score(static_cast<size_t>(E));
    std::vector<std::pair<double, int32_t>> best(static_cast<size_t>(groups));
    std::vector<int32_t> cand;
    for (int64_t t = 0; t < tokens; ++t) {
      for (auto& x : score) x = rng.uniform();
      for (int64_t g = 0; g < groups; ++g) {
        double m = -1;
        for (int64_t e = g * per; e < (g + 1) * per; ++e) m = std::max(m, score[static_cast<size_t>(e)]);
        best[static_cast<size_t>(g)] = {m, static_cast<int32_t>(g)};
      }
      std::partial_sort(best.begin(), best.begin() + topk_groups, best.end(), std::greater<>());
      cand.clear();
      for (int64_t i = 0; i < topk_groups; ++i)
        for (int64_t e = best[static_cast<size_t>(i)].second * per; e < (best[static_cast<size_t>(i)].second + 1) * per; ++e)
          cand.push_back(static_cast<int32_t>(e));
      std::partial_sort(cand.begin(), cand.begin() + K, cand.end(),
                        [&](int32_t a, int32_t b) { return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)]; });
      std::copy(cand.begin(), cand.begin() + K, ids.begin() + t * K);
    }
  };
}

DispatchTraffic route_traffic(const Topology& topo, const A2aBenchConfig& c, const TokenRouter& router) {
  const int64_t D = topo.devices(), EP = c.expert_parallel, K = c.top_k;
  if (EP < 1 || D % EP != 0) throw std::invalid_argument(fmt::format("{} devices do not split into expert-parallel groups of {}", D, EP));
  if (c.experts < EP || c.experts % EP != 0) throw std::invalid_argument(fmt::format("{} experts do not spread evenly over {} ranks", c.experts, EP));
  const int64_t per_rank = c.experts / EP;
  DispatchTrafficBuilder b(D, topo.devices_per_node());
  std::vector<int32_t> ids, devs(static_cast<size_t>(K));
  for (int64_t d = 0; d < D; ++d) {
    ids.assign(static_cast<size_t>(c.tokens_per_device * K), 0);
    router(d, c.tokens_per_device, ids);
    const int64_t base = (d / EP) * EP;
    for (int64_t t = 0; t < c.tokens_per_device; ++t) {
      for (int64_t k = 0; k < K; ++k) {
        const int32_t e = ids[static_cast<size_t>(t * K + k)];
        if (e < 0 || e >= c.experts) throw std::out_of_range("router returned an expert id out of range");
        devs[static_cast<size_t>(k)] = static_cast<int32_t>(base + e / per_rank);
      }
      b.add_token(d, devs.data(), static_cast<int>(K));
    }
  }
  return b.finish();
}

A2aBenchResult run_a2a_bench(const Topology& topo, const A2aBenchConfig& c, const TokenRouter& router) {
  const auto* algo = a2a_registry().find(c.algorithm);
  if (!algo) throw std::invalid_argument("unknown all-to-all algorithm " + c.algorithm);
  A2aBenchResult out;
  auto t0 = std::chrono::steady_clock::now();
  const DispatchTraffic tr = route_traffic(topo, c, router);
  out.routing_seconds = seconds_since(t0);

  // DeepEP's counted units (summed over devices, averaged below), and routing statistics:
  //   low latency:               (token, expert) messages, own device included;
  //   hierarchical, one node:    tokens received, own device included (NVLink);
  //   hierarchical, across:      (token, destination node) pairs, own node included (RDMA);
  //   pairwise:                  tokens that cross the counted domain (not DeepEP's, for comparison).
  const int64_t D = topo.devices(), G = topo.devices_per_node();
  enum class Count { Messages, DeviceTokens, NodeTokens, CrossingTokens };
  const bool one_node_groups = c.expert_parallel <= G;
  const Count count = c.algorithm == "deepep-low-latency" ? Count::Messages
                      : c.algorithm == "pairwise"         ? Count::CrossingTokens
                      : one_node_groups                   ? Count::DeviceTokens
                                                          : Count::NodeTokens;
  out.counted_domain = count == Count::Messages || !one_node_groups ? "rdma" : "nvlink";
  double units = 0, node_tokens = 0, device_tokens = 0;
  for (int64_t s = 0; s < D; ++s) {
    for (const auto* e = tr.device_begin(s); e != tr.device_end(s); ++e) {
      device_tokens += static_cast<double>(e->tokens);
      const bool crosses = e->dst != s && (one_node_groups || tr.node_of(e->dst) != tr.node_of(s));
      if (count == Count::Messages) units += static_cast<double>(e->messages);
      if (count == Count::DeviceTokens || (count == Count::CrossingTokens && crosses)) units += static_cast<double>(e->tokens);
    }
    for (const auto* e = tr.node_begin(s); e != tr.node_end(s); ++e) {
      node_tokens += static_cast<double>(e->tokens);
      if (count == Count::NodeTokens) units += static_cast<double>(e->tokens);
    }
  }
  const double routed = static_cast<double>(D * c.tokens_per_device);
  out.nodes_per_token = node_tokens / routed;
  out.devices_per_token = device_tokens / routed;

  NetworkModel net(topo, c.network, c.flow);
  auto phase = [&](A2aPhase p, double bytes, double counted) {
    A2aPhaseResult r;
    const auto t1 = std::chrono::steady_clock::now();
    A2aInput in;
    in.topology = &topo;
    in.traffic = &tr;
    in.phase = p;
    in.bytes_per_token = bytes;
    const FlowSet flows = algo->factory(in);
    r.net = net.run(flows, c.fixed_latency);
    r.model_seconds = seconds_since(t1);
    r.counted_bytes_per_device = units / static_cast<double>(D) * counted;
    r.GBps = r.net.duration.ps() > 0 ? r.counted_bytes_per_device / r.net.duration.seconds() / 1e9 : 0.0;
    return r;
  };
  out.dispatch = phase(A2aPhase::Dispatch, c.dispatch_bytes, c.dispatch_counted_bytes);
  out.combine = phase(A2aPhase::Combine, c.combine_bytes, c.combine_counted_bytes);
  return out;
}

}  // namespace moesim
