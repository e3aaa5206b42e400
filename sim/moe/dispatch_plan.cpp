#include "sim/moe/dispatch_plan.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "sim/base/bits.h"

namespace moesim {
namespace {
constexpr size_t kMaxSameNodeCopies = 64;  // copies on the source's node that share its tokens
}  // namespace

int64_t expert_capacity(double capacity_factor, int64_t tokens, int64_t top_k, int64_t experts) {
  // Small epsilon so that e.g. 1.0 * 4096 * 8 / 256 stays exactly 128 despite rounding.
  return static_cast<int64_t>(std::ceil(capacity_factor * static_cast<double>(tokens * top_k) / static_cast<double>(experts) - 1e-9));
}

DispatchPlanner::DispatchPlanner(DispatchOptions options, int64_t devices) : o_(options), devices_(devices) {
  per_expert_.assign(o_.num_experts, 0);
}

const DispatchResult& DispatchPlanner::plan(const std::vector<RoutingBatch>& batches, const LayerPlacement& p) {
  if (static_cast<int64_t>(batches.size()) != devices_) throw std::logic_error("one routing batch per device expected");
  return plan([&](int64_t d) -> const RoutingBatch& { return batches[static_cast<size_t>(d)]; }, p);
}

const DispatchResult& DispatchPlanner::plan(const std::function<const RoutingBatch&(int64_t)>& batch_of, const LayerPlacement& p) {
  const int64_t E = o_.num_experts, EP = o_.expert_parallel;
  const size_t slots = p.rank_slots.at(0).size();
  r_.slot_tokens.assign(devices_, std::vector<int64_t>(slots, 0));
  r_.expert_load.assign(E, 0);
  r_.expert_dropped.assign(E, 0);
  r_.assignments = r_.dropped = r_.local_tokens = 0;
  r_.routed_tokens = r_.token_nodes = r_.max_token_nodes = 0;
  slot_of_.assign(static_cast<size_t>(EP * E), -1);
  for (int64_t rank = 0; rank < EP; ++rank)
    for (size_t s = 0; s < slots; ++s) {
      int32_t& so = slot_of_[rank * E + p.rank_slots[rank][s]];
      if (so < 0) so = static_cast<int32_t>(s);
    }
  single_rank_.assign(E, -1);
  single_slot_.assign(E, -1);
  for (int64_t e = 0; e < E; ++e)
    if (p.expert_ranks[e].size() == 1) {
      single_rank_[e] = p.expert_ranks[e][0];
      single_slot_[e] = slot_of_[single_rank_[e] * E + e];
    }
  slot_ptr_.resize(devices_);
  for (int64_t x = 0; x < devices_; ++x) slot_ptr_[x] = r_.slot_tokens[x].data();
  DispatchTrafficBuilder traffic(devices_, o_.devices_per_node, std::move(r_.traffic));  // the last plan's room
  for (int64_t d = 0; d < devices_; ++d) plan_device(d, batch_of(d), p, traffic);
  r_.traffic = traffic.finish();
  for (int64_t s = 0; s < devices_; ++s) r_.local_tokens += r_.traffic.tokens_to(s, s);
  return r_;
}

void DispatchPlanner::plan_device(int64_t d, const RoutingBatch& b, const LayerPlacement& p, DispatchTrafficBuilder& traffic) {
  const int64_t E = o_.num_experts, EP = o_.expert_parallel, K = b.top_k, T = b.tokens;
  const int64_t ETP = o_.expert_tensor_parallel;
  const int64_t group_base = (d / (EP * ETP)) * EP * ETP;
  const int64_t my_rank = (d - group_base) / ETP;
  const int64_t cap = o_.capacity_factor ? expert_capacity(*o_.capacity_factor, T, K, E) : INT64_MAX;
  r_.capacity = o_.capacity_factor ? cap : 0;
  r_.assignments += T * K;
  // Dropping by weight needs the whole batch first; by arrival order is counted while routing.
  const bool by_weight = o_.drop_lowest_weight && !b.weights.empty();
  arrival_cap_ = o_.capacity_factor && !by_weight ? cap : -1;
  if (o_.capacity_factor && by_weight) apply_capacity(b, cap);
  if (arrival_cap_ >= 0) std::fill(per_expert_.begin(), per_expert_.end(), 0);
  route_tokens(d, b, p, traffic, group_base, my_rank);
  if (o_.padded) charge_padded(d, p, traffic, group_base, cap);
}

void DispatchPlanner::apply_capacity(const RoutingBatch& b, int64_t cap) {
  const int64_t E = o_.num_experts, K = b.top_k, T = b.tokens;
  keep_.assign(static_cast<size_t>(T * K), 1);
  std::fill(per_expert_.begin(), per_expert_.end(), 0);
  for (int64_t i = 0; i < T * K; ++i) ++per_expert_[b.experts[i]];
  std::vector<std::vector<int64_t>> over(E);
  for (int64_t i = 0; i < T * K; ++i)
    if (per_expert_[b.experts[i]] > cap) over[b.experts[i]].push_back(i);
  for (int64_t e = 0; e < E; ++e) {
    auto& v = over[e];
    if (v.empty()) continue;
    // Keep the `cap` highest weights; ties go to the earlier token.
    std::stable_sort(v.begin(), v.end(), [&](int64_t x, int64_t y) { return b.weights[x] > b.weights[y]; });
    for (size_t j = static_cast<size_t>(cap); j < v.size(); ++j) keep_[v[j]] = 0;
  }
}

void DispatchPlanner::choose_copies(int64_t d, const LayerPlacement& p, int64_t group_base, int64_t my_rank) {
  const int64_t E = o_.num_experts, ETP = o_.expert_tensor_parallel, DPN = o_.devices_per_node;
  choice_.resize(static_cast<size_t>(E));
  choice_ranks_.clear();
  choice_slots_.clear();
  for (int64_t e = 0; e < E; ++e) {
    if (single_rank_[e] >= 0) continue;
    const auto& copies = p.expert_ranks[e];
    CopyChoice& c = choice_[e];
    c.first = static_cast<int32_t>(choice_ranks_.size());
    if (std::find(copies.begin(), copies.end(), my_rank) != copies.end()) {
      choice_ranks_.push_back(static_cast<int32_t>(my_rank));
    } else {
      for (int32_t r : copies)
        if ((group_base + r * ETP) / DPN == d / DPN && choice_ranks_.size() - c.first < kMaxSameNodeCopies) choice_ranks_.push_back(r);
      if (choice_ranks_.size() == static_cast<size_t>(c.first)) choice_ranks_.insert(choice_ranks_.end(), copies.begin(), copies.end());
    }
    c.count = static_cast<int32_t>(choice_ranks_.size() - c.first);
    for (size_t i = static_cast<size_t>(c.first); i < choice_ranks_.size(); ++i) choice_slots_.push_back(slot_of_[choice_ranks_[i] * E + e]);
  }
}

void DispatchPlanner::route_tokens(int64_t d, const RoutingBatch& b, const LayerPlacement& p, DispatchTrafficBuilder& traffic,
                                   int64_t group_base, int64_t my_rank) {
  choose_copies(d, p, group_base, my_rank);
  // One counter per route (an expert's only copy: index e; a choice among copies: E + its entry),
  // added to loads, slots and messages once per device (drain_routes): one increment per
  // assignment instead of three, on the hot experts' counters.
  route_count_.assign(static_cast<size_t>(o_.num_experts) + choice_ranks_.size(), 0);
  if (devices_ <= DispatchTrafficBuilder::kMaskDevices) {
    // A token's devices as one 64-bit set: no per-copy list and stamps.
    build_rank_sets(group_base);
    if (choice_ranks_.empty() && !o_.capacity_factor && !o_.padded) {
      const bool packed = traffic.packs_sets();
      if (b.top_k == 8) {
        packed ? route_single_copies<8, true>(d, b, traffic) : route_single_copies<8, false>(d, b, traffic);
      } else {
        packed ? route_single_copies<0, true>(d, b, traffic) : route_single_copies<0, false>(d, b, traffic);
      }
    } else {
      route_each_token<true>(d, b, traffic, group_base);
    }
  } else {
    route_each_token<false>(d, b, traffic, group_base);
  }
  drain_routes(d, traffic, group_base);
}

void DispatchPlanner::build_rank_sets(int64_t group_base) {
  const int64_t ETP = o_.expert_tensor_parallel;
  const uint64_t tp_bits = ETP >= 64 ? ~uint64_t{0} : (uint64_t{1} << ETP) - 1;
  rank_bits_.assign(static_cast<size_t>(o_.expert_parallel), 0);
  rank_node_bits_.assign(static_cast<size_t>(o_.expert_parallel), 0);
  for (int64_t rank = 0; rank < o_.expert_parallel; ++rank) {
    rank_bits_[rank] = tp_bits << (group_base + rank * ETP);
    for (int64_t tp = 0; tp < ETP; ++tp) rank_node_bits_[rank] |= uint64_t{1} << ((group_base + rank * ETP + tp) / o_.devices_per_node);
  }
}

template <int kTopK, bool kPacked>
void DispatchPlanner::route_single_copies(int64_t d, const RoutingBatch& b, DispatchTrafficBuilder& traffic) {
  // Dropless, one copy per expert, at most 64 devices: an expert's route is the expert itself,
  // and its devices and nodes are fixed sets (kPacked: both in one word, devices first).
  const int64_t E = o_.num_experts, K = kTopK > 0 ? kTopK : b.top_k, T = b.tokens;
  constexpr int64_t kWords = kPacked ? 1 : 2;
  expert_bits_.resize(static_cast<size_t>(kWords * E));
  for (int64_t e = 0; e < E; ++e) {
    const int32_t rank = single_rank_[e];
    if constexpr (kPacked) {
      expert_bits_[e] = rank_bits_[rank] | rank_node_bits_[rank] << devices_;
    } else {
      expert_bits_[2 * e] = rank_bits_[rank];
      expert_bits_[2 * e + 1] = rank_node_bits_[rank];
    }
  }
  const uint64_t* bits = expert_bits_.data();
  // Four interleaved counts per expert (by k mod 4), added up after: a hot expert's increments
  // in consecutive assignments would otherwise wait on each other through memory.
  lane_count_.assign(static_cast<size_t>(4 * E), 0);
  int64_t* lanes = lane_count_.data();
  // Tokens in blocks: their sets first, then the builder counts a block at once.
  constexpr int64_t kBlock = 256;
  uint64_t sets[kWords][kBlock];
  int64_t routed = 0, token_nodes = 0, max_nodes = 0;
  for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
    const int64_t n = std::min(kBlock, T - t0);
    const int32_t* ids = b.experts.data() + t0 * K;
    for (int64_t i = 0; i < n; ++i, ids += K) {
      uint64_t reached[kWords] = {};
      for (int64_t k = 0; k < K; ++k) {
        const auto e = static_cast<size_t>(ids[k]);
        ++lanes[4 * e + static_cast<size_t>(k & 3)];
        for (int64_t w = 0; w < kWords; ++w) reached[w] |= bits[kWords * e + w];
      }
      for (int64_t w = 0; w < kWords; ++w) sets[w][i] = reached[w];
    }
    const uint64_t* node_sets = sets[kWords - 1];
    if constexpr (kPacked) {
      traffic.add_packed_token_sets(d, sets[0], n);
    } else {
      traffic.add_token_sets(d, sets[0], sets[1], n);
    }
    const int node_shift = kPacked ? static_cast<int>(devices_) : 0;
    auto count_nodes = [&](auto nodes_of) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = nodes_of(node_sets[i] >> node_shift);
        routed += c > 0;
        token_nodes += c;
        max_nodes = std::max(max_nodes, c);
      }
    };
    if (devices_ <= 8 * o_.devices_per_node) {  // at most 8 nodes: a byte's bit count by table
      count_nodes([](uint64_t set) { return static_cast<int64_t>(kBitsInByte[set & 0xFF]); });
    } else {
      count_nodes([](uint64_t set) { return static_cast<int64_t>(popcount64(set)); });
    }
  }
  int64_t* routes = route_count_.data();
  for (int64_t e = 0; e < E; ++e) routes[e] += lanes[4 * e] + lanes[4 * e + 1] + lanes[4 * e + 2] + lanes[4 * e + 3];
  r_.routed_tokens += routed;
  r_.token_nodes += token_nodes;
  r_.max_token_nodes = std::max(r_.max_token_nodes, max_nodes);
}

template <bool kDeviceSet>
void DispatchPlanner::route_each_token(int64_t d, const RoutingBatch& b, DispatchTrafficBuilder& traffic, int64_t group_base) {
  const int64_t E = o_.num_experts, K = b.top_k, T = b.tokens;
  const int64_t ETP = o_.expert_tensor_parallel;
  const bool all_kept = !o_.capacity_factor, padded = o_.padded;
  // Every expert's routes as one range (an only copy: route e; copies: E + their choice entries)
  // and each route's rank, so that a token's copy is picked without a branch on replication
  // (mispredicted for a quarter of the assignments with 64 redundant of 256 experts).
  const int32_t* single = single_rank_.data();
  const CopyChoice* choice = choice_.data();
  expert_route_.resize(static_cast<size_t>(E));
  route_rank_.resize(static_cast<size_t>(E) + choice_ranks_.size());
  int32_t max_copies = 1;
  for (int64_t e = 0; e < E; ++e) {
    expert_route_[e] = single[e] >= 0 ? CopyChoice{static_cast<int32_t>(e), 1} : CopyChoice{static_cast<int32_t>(E) + choice[e].first, choice[e].count};
    route_rank_[e] = single[e];
    max_copies = std::max(max_copies, expert_route_[e].count);
  }
  std::copy(choice_ranks_.begin(), choice_ranks_.end(), route_rank_.begin() + E);
  const CopyChoice* expert_route = expert_route_.data();
  const int32_t* route_rank = route_rank_.data();
  const int64_t arrival_cap = arrival_cap_;
  int64_t* arrivals = per_expert_.data();
  const uint64_t* rank_bits = rank_bits_.data();
  const uint64_t* rank_node_bits = rank_node_bits_.data();
  int64_t* routes = route_count_.data();
  token_devices_.resize(static_cast<size_t>(K * ETP));
  // t mod n for every copy count n, stepped with t (a division per replicated assignment was a
  // fifth of this loop at EP320 with redundant experts).
  token_mod_.assign(static_cast<size_t>(max_copies) + 1, 0);
  int32_t* t_mod = token_mod_.data();
  for (int64_t t = 0; t < T; ++t) {
    if (t > 0)
      for (int32_t n = 2; n <= max_copies; ++n) t_mod[n] = t_mod[n] + 1 == n ? 0 : t_mod[n] + 1;
    const int32_t* ids = b.experts.data() + t * K;
    int n_copies = 0;
    uint64_t reached = 0, reached_nodes = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int32_t e = ids[k];
      if (!all_kept && !(arrival_cap >= 0 ? ++arrivals[e] <= arrival_cap : keep_[t * K + k] != 0)) {
        ++r_.expert_dropped[e];
        ++r_.dropped;
        continue;
      }
      // The copy: own rank, else one on the same node, else any (choose_copies), spread by token.
      const CopyChoice r = expert_route[e];
      const int32_t route = r.first + t_mod[r.count];
      const int64_t rank = route_rank[route];
      ++routes[route];
      if (padded) continue;
      if constexpr (kDeviceSet) {
        reached |= rank_bits[rank];
        reached_nodes |= rank_node_bits[rank];
      } else {
        for (int64_t tp = 0; tp < ETP; ++tp) token_devices_[n_copies++] = static_cast<int32_t>(group_base + rank * ETP + tp);
      }
    }
    // The builder deduplicates per destination device and node (a token goes once to each).
    int64_t nodes = 0;
    if constexpr (kDeviceSet) {
      nodes = reached != 0 ? traffic.add_token_devices(d, reached, reached_nodes) : 0;
    } else {
      nodes = n_copies > 0 ? traffic.add_token_reach(d, token_devices_.data(), n_copies) : 0;
    }
    if (nodes > 0) {
      ++r_.routed_tokens;
      r_.token_nodes += nodes;
      r_.max_token_nodes = std::max(r_.max_token_nodes, nodes);
    }
  }
}

void DispatchPlanner::drain_routes(int64_t d, DispatchTrafficBuilder& traffic, int64_t group_base) {
  const int64_t E = o_.num_experts, ETP = o_.expert_tensor_parallel;
  const int64_t* routes = route_count_.data();
  auto charge = [&](int64_t e, int64_t rank, int32_t slot, int64_t n) {
    if (n == 0) return;
    r_.expert_load[e] += n;
    if (o_.padded) return;  // charge_padded counts slots and traffic
    for (int64_t tp = 0; tp < ETP; ++tp) {
      const int64_t dst = group_base + rank * ETP + tp;
      slot_ptr_[dst][slot] += n;
      traffic.add_messages(d, dst, n);
    }
  };
  for (int64_t e = 0; e < E; ++e) {
    if (single_rank_[e] >= 0) {
      charge(e, single_rank_[e], single_slot_[e], routes[e]);
      continue;
    }
    for (int32_t i = choice_[e].first; i < choice_[e].first + choice_[e].count; ++i)
      charge(e, choice_ranks_[i], choice_slots_[i], routes[E + i]);
  }
}

void DispatchPlanner::charge_padded(int64_t d, const LayerPlacement& p, DispatchTrafficBuilder& traffic, int64_t group_base, int64_t cap) {
  const int64_t E = o_.num_experts;
  const int64_t ETP = o_.expert_tensor_parallel, DPN = o_.devices_per_node;
  // Every (source, expert) pair sends and computes `cap` slots, split over the expert's copies.
  for (int64_t e = 0; e < E; ++e) {
    const auto& copies = p.expert_ranks[e];
    const int64_t n = static_cast<int64_t>(copies.size());
    for (int64_t c = 0; c < n; ++c) {
      const int64_t share = cap / n + (c < cap % n ? 1 : 0);
      for (int64_t tp = 0; tp < ETP; ++tp) {
        const int64_t dst = group_base + copies[c] * ETP + tp;
        if (share > 0) {
          traffic.add_device_counts(d, dst, share, share);
          traffic.add_node_tokens(d, dst / DPN, share);
        }
        r_.slot_tokens[dst][slot_of_[copies[c] * E + e]] += share;
      }
    }
  }
}

}  // namespace moesim
