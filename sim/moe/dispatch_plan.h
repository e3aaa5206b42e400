// From one layer's routing to what the network and the experts see, for one micro-batch: the
// capacity check per (source device, expert) with drops, the choice of copy for replicated
// experts, the per-destination-device deduplication of dispatched tokens (a token goes once to
// each device that holds any of its experts, as DeepEP does), the src x dst token matrix, and
// the token count of every expert slot on every device.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "sim/moe/placement.h"
#include "sim/moe/routing_source.h"
#include "sim/network/dispatch_traffic.h"

namespace moesim {

struct DispatchOptions {
  int64_t num_experts = 0;
  int64_t top_k = 0;
  int64_t expert_parallel = 1;
  int64_t expert_tensor_parallel = 1;     // devices sharing each expert-parallel rank's experts
  int64_t devices_per_node = 1;
  std::optional<double> capacity_factor;  // none = dropless
  bool padded = false;                    // charge full capacity slots
  bool drop_lowest_weight = false;        // else drop by arrival order
};

struct DispatchResult {
  std::vector<std::vector<int64_t>> slot_tokens; // [device][slot] tokens each local expert copy processes
  std::vector<int64_t> expert_load;              // [logical expert] kept assignments, all devices
  std::vector<int64_t> expert_dropped;           // [logical expert] dropped assignments
  int64_t assignments = 0;                       // tokens x top_k routed
  int64_t dropped = 0;
  int64_t capacity = 0;                          // per (source device, expert); 0 = dropless
  int64_t local_tokens = 0;                      // token copies that stay on their own device
  int64_t routed_tokens = 0;                     // tokens with at least one kept expert
  int64_t token_nodes = 0;                       // sum over tokens of distinct destination nodes
  int64_t max_token_nodes = 0;                   // most nodes any token was sent to
  DispatchTraffic traffic;                       // tokens per (src, dst device) and (src, dst node), deduplicated; padded: slots
};

// Capacity per expert per device batch: ceil(cf * tokens * top_k / experts).
int64_t expert_capacity(double capacity_factor, int64_t tokens, int64_t top_k, int64_t experts);

class DispatchPlanner {
 public:
  DispatchPlanner(DispatchOptions options, int64_t devices);
  // batches[d] is device d's routing; placement is in expert-parallel rank space and applies to
  // every expert-parallel group (devices [g*EP, (g+1)*EP)).
  const DispatchResult& plan(const std::vector<RoutingBatch>& batches, const LayerPlacement& placement);
  // The same with each device's routing produced when it is planned (batch_of(d), devices in
  // ascending order): one batch in the cache at a time instead of every device's.
  const DispatchResult& plan(const std::function<const RoutingBatch&(int64_t device)>& batch_of, const LayerPlacement& placement);

 private:
  void plan_device(int64_t d, const RoutingBatch& b, const LayerPlacement& p, DispatchTrafficBuilder& traffic);
  // Capacity when the lowest gate weights are dropped: marks in keep_ which of the batch's
  // assignments are kept (by arrival order, route_tokens counts them as it goes).
  void apply_capacity(const RoutingBatch& b, int64_t cap);
  // Per token: drops, the copy of each kept expert, slot counts and the deduplicated traffic
  // (the slot counts are left to charge_padded when padded).
  void route_tokens(int64_t d, const RoutingBatch& b, const LayerPlacement& p, DispatchTrafficBuilder& traffic, int64_t group_base,
                    int64_t my_rank);
  // rank_bits_ and rank_node_bits_ for the expert-parallel group starting at device group_base.
  void build_rank_sets(int64_t group_base);
  // route_tokens when every expert has one copy, nothing is dropped or padded and the cluster
  // has at most 64 devices (the common case): one table lookup per assignment.
  template <int kTopK, bool kPacked>  // kTopK 0: b.top_k; kPacked: traffic.packs_sets()
  void route_single_copies(int64_t d, const RoutingBatch& b, DispatchTrafficBuilder& traffic);
  // The per-token loop of route_tokens; kDeviceSet: a token's devices as a 64-bit set (clusters
  // of at most 64 devices), else as a list deduplicated by the traffic builder's stamps.
  template <bool kDeviceSet>
  void route_each_token(int64_t d, const RoutingBatch& b, DispatchTrafficBuilder& traffic, int64_t group_base);
  // Adds device d's route counts to expert loads, slot counts and messages per destination.
  void drain_routes(int64_t d, DispatchTrafficBuilder& traffic, int64_t group_base);
  // For each replicated expert, the copies device d's tokens take in turn (t % count): its own
  // rank when it holds one, else the copies on its node (at most 64), else all copies.
  void choose_copies(int64_t d, const LayerPlacement& p, int64_t group_base, int64_t my_rank);
  // Padded: every expert's `cap` slots from device d, split over its copies.
  void charge_padded(int64_t d, const LayerPlacement& p, DispatchTrafficBuilder& traffic, int64_t group_base, int64_t cap);
  DispatchOptions o_;
  int64_t devices_;
  DispatchResult r_;
  std::vector<int32_t> slot_of_;   // [rank * E + expert] -> slot index on that rank, -1 if absent
  std::vector<int32_t> single_rank_;  // [expert] -> the rank of its only copy, -1 if replicated
  std::vector<int32_t> single_slot_;  // [expert] -> that copy's slot on its rank
  std::vector<int64_t*> slot_ptr_;
  struct CopyChoice {
    int32_t first = 0, count = 0;  // into choice_ranks_
  };
  std::vector<CopyChoice> choice_;      // [expert], replicated experts only
  std::vector<int32_t> choice_ranks_;
  std::vector<int32_t> choice_slots_;   // the slot of each choice_ranks_ entry
  std::vector<int64_t> route_count_;    // [expert, then choice entry] kept assignments of one device
  std::vector<int32_t> token_devices_;  // devices of one token's kept expert copies
  std::vector<int32_t> token_mod_;      // [n] the token's index mod n (route_each_token)
  std::vector<CopyChoice> expert_route_;  // [expert] its routes: first route and count
  std::vector<int32_t> route_rank_;       // [route] the rank it goes to
  std::vector<uint64_t> rank_bits_;     // [rank] its devices as a set (at most 64 devices)
  std::vector<uint64_t> rank_node_bits_;  // [rank] the nodes of those devices as a set
  std::vector<int64_t> lane_count_;      // [4 e + k mod 4] route_single_copies' interleaved counts
  std::vector<uint64_t> expert_bits_;     // [2 e], [2 e + 1]: expert e's devices and nodes (one copy each)
  std::vector<uint8_t> keep_;
  int64_t arrival_cap_ = -1;            // capacity counted in arrival order (per_expert_), -1: keep_ or dropless
  std::vector<int64_t> per_expert_;
};

}  // namespace moesim
