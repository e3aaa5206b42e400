#include "sim/network/a2a_bench.h"

namespace moesim {

DeepEpCounted deepep_counted_units(const DispatchTraffic& tr, DeepEpCount count, int64_t expert_parallel, int64_t tokens_per_device) {
  const int64_t D = tr.devices;
  const bool one_node_groups = expert_parallel <= tr.devices_per_node;
  const bool messages = count == DeepEpCount::Messages;
  const bool device_tokens_counted = count == DeepEpCount::DeviceOrNodeTokens && one_node_groups;
  const bool node_tokens_counted = count == DeepEpCount::DeviceOrNodeTokens && !one_node_groups;
  DeepEpCounted out;
  out.domain = messages || !one_node_groups ? "rdma" : "nvlink";
  double units = 0, node_tokens = 0, device_tokens = 0;
  for (int64_t s = 0; s < D; ++s) {
    for (const auto* e = tr.device_begin(s); e != tr.device_end(s); ++e) {
      device_tokens += static_cast<double>(e->tokens);
      const bool crosses = e->dst != s && (one_node_groups || tr.node_of(e->dst) != tr.node_of(s));
      if (messages) units += static_cast<double>(e->messages);
      if (device_tokens_counted || (count == DeepEpCount::CrossingTokens && crosses)) units += static_cast<double>(e->tokens);
    }
    for (const auto* e = tr.node_begin(s); e != tr.node_end(s); ++e) {
      node_tokens += static_cast<double>(e->tokens);
      if (node_tokens_counted) units += static_cast<double>(e->tokens);
    }
  }
  const double routed = static_cast<double>(D * tokens_per_device);
  out.units_per_device = units / static_cast<double>(D);
  out.nodes_per_token = node_tokens / routed;
  out.devices_per_token = device_tokens / routed;
  return out;
}

double deepep_GBps(const DeepEpCounted& counted, double bytes_per_unit, double seconds) {
  return seconds > 0 ? counted.units_per_device * bytes_per_unit / seconds / 1e9 : 0.0;
}

}  // namespace moesim
