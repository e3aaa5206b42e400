#include "sim/network/flow_model.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace moesim {

FlowModel::FlowModel(const Topology& topology, FlowModelOptions options) : topo_(topology), opt_(options) {
  if (!(opt_.completion_tolerance >= 0)) throw std::invalid_argument("flow model: completion tolerance must be >= 0");
}

namespace {

// Which of the used links to keep: each gets its new number (in the same order) or -1. A link
// whose flows are exactly those of another of no more capacity (the lower number on ties) is
// dropped: its constraint is implied by the other's, so the max-min rates do not change.
// Candidates are found by a hash of the flow lists (users[first[l]..first[l + 1]), in flow order)
// and confirmed by comparing the lists.
std::vector<int32_t> kept_links(const std::vector<double>& cap, const std::vector<int64_t>& first, const std::vector<int32_t>& users) {
  const size_t U = cap.size();
  auto same_users = [&](size_t a, size_t b) {
    return std::equal(users.begin() + first[a], users.begin() + first[a + 1], users.begin() + first[b], users.begin() + first[b + 1]);
  };
  std::vector<std::pair<uint64_t, int32_t>> by_hash(U);
  for (size_t l = 0; l < U; ++l) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the flow indices
    for (int64_t i = first[l]; i < first[l + 1]; ++i) h = (h ^ static_cast<uint64_t>(users[static_cast<size_t>(i)])) * 1099511628211ull;
    by_hash[l] = {h, static_cast<int32_t>(l)};
  }
  std::sort(by_hash.begin(), by_hash.end());
  std::vector<int32_t> group(U);  // the lowest-numbered link with the same flows
  for (size_t i = 0, j = 0; i < U; i = j) {
    while (j < U && by_hash[j].first == by_hash[i].first) ++j;
    for (size_t a = i; a < j; ++a) {  // a run of equal hashes, in link order
      const int32_t l = by_hash[a].second;
      group[static_cast<size_t>(l)] = l;
      for (size_t b = i; b < a; ++b)
        if (const int32_t m = by_hash[b].second; group[static_cast<size_t>(m)] == m && same_users(static_cast<size_t>(l), static_cast<size_t>(m))) {
          group[static_cast<size_t>(l)] = m;
          break;
        }
    }
  }
  std::vector<int32_t> keeper(U);  // [group] its member of least capacity: the one that binds
  for (size_t l = 0; l < U; ++l) {
    const auto g = static_cast<size_t>(group[l]);
    if (g == l || cap[l] < cap[static_cast<size_t>(keeper[g])]) keeper[g] = static_cast<int32_t>(l);
  }
  std::vector<int32_t> number(U, -1);
  int32_t kept = 0;
  for (size_t l = 0; l < U; ++l)
    if (keeper[static_cast<size_t>(group[l])] == static_cast<int32_t>(l)) number[l] = kept++;
  return number;
}

// Calls fn(std::integral_constant<int, H>()) with H = hops, so that the hot loops unroll.
template <class Fn>
void with_hops(int hops, Fn&& fn) {
  switch (hops) {
    case 1: return fn(std::integral_constant<int, 1>());
    case 2: return fn(std::integral_constant<int, 2>());
    case 3: return fn(std::integral_constant<int, 3>());
    case 4: return fn(std::integral_constant<int, 4>());
    case 5: return fn(std::integral_constant<int, 5>());
    case 6: return fn(std::integral_constant<int, 6>());
    case 7: return fn(std::integral_constant<int, 7>());
    case 8: return fn(std::integral_constant<int, 8>());
    default: throw std::logic_error("flow model: a route of more than 8 links");
  }
}

// The same with the record layout: fn(hops constant, weighted constant).
template <class Fn>
void with_layout(int hops, bool weighted, Fn&& fn) {
  with_hops(hops, [&](auto h) {
    if (weighted || decltype(h)::value == 1) fn(h, std::true_type());
    else fn(h, std::false_type());
  });
}

}  // namespace

void FlowModel::setup(const FlowSet& set) {
  const auto& flows = set.flows();
  const size_t F = flows.size();
  // Number the links the flows use, in order of first use, and list each one's flows (CSR).
  std::vector<int32_t> local(set.num_links(), -1), link_id, path;
  std::vector<int64_t> flow_first(F + 1, 0);
  for (size_t f = 0; f < F; ++f) {
    const int32_t* p = set.path(flows[f]);
    for (int32_t h = 0; h < flows[f].hops; ++h) {
      if (local[p[h]] < 0) {
        local[p[h]] = static_cast<int32_t>(link_id.size());
        link_id.push_back(p[h]);
      }
      path.push_back(local[p[h]]);
    }
    flow_first[f + 1] = static_cast<int64_t>(path.size());
  }
  const size_t U = link_id.size();
  std::vector<double> cap(U);
  for (size_t l = 0; l < U; ++l) cap[l] = set.capacity_Bps(link_id[l]);
  std::vector<int64_t> first(U + 1, 0);
  for (int32_t l : path) ++first[static_cast<size_t>(l) + 1];
  for (size_t l = 0; l < U; ++l) first[l + 1] += first[l];
  std::vector<int32_t> users(path.size());
  std::vector<int64_t> next(first.begin(), first.end() - 1);
  for (size_t f = 0; f < F; ++f)
    for (int64_t p = flow_first[f]; p < flow_first[f + 1]; ++p) users[static_cast<size_t>(next[path[p]]++)] = static_cast<int32_t>(f);
  const std::vector<int32_t> number = kept_links(cap, first, users);
  capacity_Bps_.clear();
  for (size_t l = 0; l < U; ++l)
    if (number[l] >= 0) capacity_Bps_.push_back(cap[l]);
  const auto L = static_cast<int32_t>(capacity_Bps_.size());

  // Each flow's route over kept links, padded with link L to the longest, and its weight.
  hops_ = 1;
  for (size_t f = 0; f < F; ++f) {
    int n = 0;
    for (int64_t p = flow_first[f]; p < flow_first[f + 1]; ++p) n += number[path[p]] >= 0;
    hops_ = std::max(hops_, n);
  }
  const auto H = static_cast<size_t>(hops_);
  live_links_.assign(F * H, L);
  weight_.resize(F);
  latency_s_.resize(F);
  active_weight_.assign(static_cast<size_t>(L), 0);
  for (size_t f = 0; f < F; ++f) {
    const double w = flows[f].weight;
    if (!(w >= 1 && w <= 1e9 && w == std::floor(w))) throw std::invalid_argument("flow model: flow weights must be whole numbers");
    weight_[f] = static_cast<int32_t>(w);
    latency_s_[f] = flows[f].latency.seconds();
    size_t k = 0;
    for (int64_t p = flow_first[f]; p < flow_first[f + 1]; ++p)
      if (const int32_t l = number[path[p]]; l >= 0) {
        live_links_[f * H + k++] = l;
        active_weight_[static_cast<size_t>(l)] += weight_[f];
      }
  }
  live_id_.resize(F);
  remaining_.resize(F);
  for (size_t f = 0; f < F; ++f) live_id_[f] = static_cast<int32_t>(f), remaining_[f] = flows[f].bytes;
  rate_Bps_.assign(F, 0.0);
  live_weight_ = 0;
  for (int32_t w : weight_) live_weight_ += w;
  find_components();
  // Records carry weights unless every flow has weight 1 (and more than one link).
  weighted_ = hops_ == 1 || std::any_of(weight_.begin(), weight_.end(), [](int32_t w) { return w != 1; });
  record_ints_ = static_cast<size_t>(hops_) - 1 + weighted_;
  // Per-link state, with the padding link L and link L + 1 (always filled: finished flows'
  // records point at it when they carry no weight).
  links_.resize(static_cast<size_t>(L) + 2);
  rank_.assign(static_cast<size_t>(L) + 2, kUnfilled);
  rank_[static_cast<size_t>(L) + 1] = 0;
  share_Bps_.assign(static_cast<size_t>(L) + 2, 0.0);
  tree_leaves_ = std::bit_ceil(static_cast<size_t>(L));
  tree_.resize(2 * tree_leaves_);
}

void FlowModel::find_components() {
  // Union-find over the links, joined by the flows that cross them.
  const size_t L = capacity_Bps_.size(), H = static_cast<size_t>(hops_);
  std::vector<int32_t> root(L);
  for (size_t l = 0; l < L; ++l) root[l] = static_cast<int32_t>(l);
  auto find = [&](int32_t x) {  // with path halving; a set's root is its lowest link
    while (root[x] != x) x = root[x] = root[root[x]];
    return x;
  };
  for (size_t i = 0; i < live_id_.size(); ++i)
    for (size_t k = 1; k < H; ++k)
      if (const int32_t l = live_links_[i * H + k]; static_cast<size_t>(l) < L) {
        const int32_t a = find(live_links_[i * H]), b = find(l);
        root[std::max(a, b)] = std::min(a, b);
      }
  component_of_.assign(L, -1);
  int32_t components = 0;
  for (size_t l = 0; l < L; ++l) {
    const auto r = static_cast<size_t>(find(static_cast<int32_t>(l)));
    if (component_of_[r] < 0) component_of_[r] = components++;
    component_of_[l] = component_of_[r];
  }
  component_weight_.assign(static_cast<size_t>(components), 0);
  for (size_t i = 0; i < live_id_.size(); ++i)
    component_weight_[static_cast<size_t>(component_of_[static_cast<size_t>(live_links_[i * H])])] += weight_[static_cast<size_t>(live_id_[i])];
  changed_.assign(static_cast<size_t>(components), 1);
}

void FlowModel::compact() {
  const size_t L = capacity_Bps_.size(), H = static_cast<size_t>(hops_), S = record_ints_;
  size_t n = 0;
  for (size_t i = 0; i < live_id_.size(); ++i) {
    if (live_id_[i] < 0) continue;
    live_id_[n] = live_id_[i];
    remaining_[n] = remaining_[i];
    rate_Bps_[n] = rate_Bps_[i];
    std::copy_n(&live_links_[i * H], H, &live_links_[n * H]);
    ++n;
  }
  live_id_.resize(n);
  remaining_.resize(n);
  rate_Bps_.resize(n);
  live_links_.resize(n * H);
  link_first_.assign(L + 1, 0);
  for (int32_t l : live_links_)
    if (static_cast<size_t>(l) < L) ++link_first_[static_cast<size_t>(l) + 1];
  for (size_t l = 0; l < L; ++l) link_first_[l + 1] += link_first_[l];
  records_.resize(static_cast<size_t>(link_first_[L]) * S);
  record_of_.assign(n * H, -1);
  std::vector<int64_t> next(link_first_.begin(), link_first_.end() - 1);
  for (size_t i = 0; i < n; ++i) {
    const int32_t* route = &live_links_[i * H];
    for (size_t k = 0; k < H; ++k) {
      const auto l = static_cast<size_t>(route[k]);
      if (l >= L) continue;
      record_of_[i * H + k] = next[l];
      int32_t* rec = &records_[static_cast<size_t>(next[l]++) * S];
      if (weighted_) *rec++ = weight_[static_cast<size_t>(live_id_[i])];
      for (size_t j = 0; j < H; ++j)
        if (j != k) *rec++ = route[j];
    }
  }
  dead_records_ = 0;
}

template <int H, bool Weighted>
int64_t FlowModel::freeze_flows_of(int32_t link, double share_Bps) {
  // Every unfinished flow of `link` whose other links are not filled yet freezes at the share and
  // is charged on its other links. Branch-free (a frozen or finished flow is charged weight 0):
  // whether a flow is still unfrozen is a coin toss the branch predictor loses.
  constexpr int S = H - 1 + Weighted;  // ints per record
  const int32_t* rec = records_.data() + static_cast<size_t>(link_first_[link]) * S;
  const int32_t* const end = records_.data() + static_cast<size_t>(link_first_[link + 1]) * S;
  const int32_t* rank = rank_.data();
  LinkState* links = links_.data();
  int64_t frozen_weight = 0;
  for (; rec != end; rec += S) {
    const int32_t* other = rec + Weighted;
    int32_t unfrozen = 1;
    for (int k = 0; k < H - 1; ++k) unfrozen &= rank[other[k]] == kUnfilled;
    const int32_t w = Weighted ? rec[0] & -unfrozen : unfrozen;
    const double charged = Weighted ? share_Bps * w : std::bit_cast<double>(std::bit_cast<uint64_t>(share_Bps) & (0 - static_cast<uint64_t>(w)));
    for (int k = 0; k < H - 1; ++k) {
      LinkState& m = links[other[k]];
      m.rem -= charged;
      m.unfrozen -= w;
    }
    frozen_weight += w;
  }
  return frozen_weight;
}

void FlowModel::update_tree(int32_t link, uint64_t key) {
  // Replays the matches from the leaf up, carrying the winner in registers. On equal keys the
  // lower-numbered link wins (the left one: a right child loses ties, hence the + 1), the order a
  // heap of (key, link) pairs would pop them in.
  size_t n = tree_leaves_ + static_cast<size_t>(link);
  TreeNode win{key, link};
  tree_[n] = win;
  for (; n > 1; n >>= 1) {
    const TreeNode other = tree_[n ^ 1];
    // Masks, not branches: who wins is a coin toss for the branch predictor.
    const uint64_t take = 0 - static_cast<uint64_t>(other.key < win.key + (n & 1));
    win.key ^= (win.key ^ other.key) & take;
    win.link ^= (win.link ^ other.link) & static_cast<int32_t>(take);
    tree_[n >> 1] = win;
  }
}

void FlowModel::solve_rates() {
  // Progressive filling: repeatedly take the link with the smallest fair share (remaining capacity
  // / weight of its unfrozen flows), give its unfrozen flows that share, and charge them on their
  // other links. Freezing at the smallest share can only raise other links' shares, so the keys
  // in the tournament tree are lower bounds: a stale winner gets its current share as key and
  // plays again. A flow is frozen once any of its links is filled, so no per-flow state is needed.
  // Components are filled independently (their order interleaves, their results do not mix), so
  // one in which no flow finished since the last filling keeps its ranks and shares.
  const size_t L = capacity_Bps_.size(), P = tree_leaves_;
  const uint64_t done = std::bit_cast<uint64_t>(std::numeric_limits<double>::infinity());
  int64_t unfrozen = 0;  // stop once every flow is frozen: the rest would be skipped
  for (size_t c = 0; c < changed_.size(); ++c)
    if (changed_[c]) unfrozen += component_weight_[c];
  for (size_t l = 0; l < P; ++l) {
    uint64_t key = done;
    if (l < L && changed_[static_cast<size_t>(component_of_[l])]) {
      links_[l] = {capacity_Bps_[l], active_weight_[l]};
      rank_[l] = kUnfilled;
      if (links_[l].unfrozen > 0) key = std::bit_cast<uint64_t>(links_[l].rem / static_cast<double>(links_[l].unfrozen));
    }
    tree_[P + l] = {key, static_cast<int32_t>(l)};
  }
  for (size_t n = P - 1; n >= 1; --n) tree_[n] = tree_[2 * n + 1].key < tree_[2 * n].key ? tree_[2 * n + 1] : tree_[2 * n];
  int32_t filled = 0;
  while (unfrozen > 0) {
    // Plain variables, not a structured binding: C++20 lambdas may capture bindings, Debian 12's
    // clang 14 (clang-tidy, the fuzz build) does not yet.
    const uint64_t key = tree_[1].key;
    const int32_t l = tree_[1].link;
    if (key == done) break;
    const LinkState ls = links_[l];
    uint64_t next_key = done;  // filled, or all its flows froze elsewhere: out of the game
    if (ls.unfrozen > 0) {
      const double share = std::max(0.0, ls.rem) / static_cast<double>(ls.unfrozen);
      if (share > std::bit_cast<double>(key) * (1.0 + 1e-12)) {
        next_key = std::bit_cast<uint64_t>(share);  // stale: plays again with its share
      } else {
        if (!(share > 0)) throw std::logic_error("flow model: a flow got no bandwidth");
        with_layout(hops_, weighted_, [&](auto h, auto w) { unfrozen -= freeze_flows_of<decltype(h)::value, decltype(w)::value>(l, share); });
        rank_[l] = filled++;
        share_Bps_[l] = share;
      }
    }
    update_tree(l, next_key);
  }
  if (unfrozen > 0) throw std::logic_error("flow model: progressive filling left flows without a rate");
  std::fill(changed_.begin(), changed_.end(), 0);
}

template <int H>
double FlowModel::scan_live(double now, double step, bool advance, std::vector<Due>& due_soon) {
  // One pass over the slots: advance each flow by the last step at its old rate and find the next
  // completion at the new rates. Returns the time to it; due_soon gets every flow due within the
  // window (and maybe some later ones). Only flows that may be due within the window are divided.
  auto rate = [](const int32_t* route, const int32_t* rank, const double* share) {
    int32_t best = route[0], best_rank = rank[best];
    for (int k = 1; k < H; ++k) {  // selects, not branches: which link binds is unpredictable
      const int32_t l = route[k], r = rank[l];
      best = r < best_rank ? l : best;
      best_rank = r < best_rank ? r : best_rank;
    }
    return share[best];
  };
  const int32_t *rank = rank_.data(), *links = live_links_.data();
  const double* share = share_Bps_.data();
  double *remaining = remaining_.data(), *rates = rate_Bps_.data();
  const double inf = std::numeric_limits<double>::infinity();
  double first = inf, window = inf, beyond = inf;  // rem > beyond x rate proves rem / rate > window
  size_t prune_at = 4096;
  due_soon.clear();
  for (size_t i = 0, n = live_id_.size(); i < n; ++i) {
    const int32_t* route = links + i * H;
    double rem = remaining[i];
    if (advance) remaining[i] = rem = rem - rates[i] * step;
    const double r = rates[i] = rate(route, rank, share);
    if (rem > beyond * r || live_id_[i] < 0) continue;
    const double due = rem / r;
    if (due < first) first = due, window = first + opt_.completion_tolerance * (now + first) + first * 1e-12, beyond = window * (1 + 1e-12);
    if (due <= window) {
      due_soon.push_back({i, due});
      if (due_soon.size() >= prune_at) {  // the window shrank as `first` fell
        std::erase_if(due_soon, [&](const Due& d) { return d.s > window; });
        prune_at = std::max<size_t>(4096, 2 * due_soon.size());
      }
    }
  }
  return first;
}

void FlowModel::finish(size_t slot) {
  // Takes the slot's flow off its links (weight and record) and out of its component.
  const size_t L = capacity_Bps_.size(), H = static_cast<size_t>(hops_);
  const int32_t w = weight_[static_cast<size_t>(live_id_[slot])];
  for (size_t k = 0; k < H; ++k) {
    const auto l = static_cast<size_t>(live_links_[slot * H + k]);
    if (l >= L) continue;
    active_weight_[l] -= w;
    records_[static_cast<size_t>(record_of_[slot * H + k]) * record_ints_] = weighted_ ? 0 : static_cast<int32_t>(L) + 1;
    ++dead_records_;
  }
  const auto c = static_cast<size_t>(component_of_[static_cast<size_t>(live_links_[slot * H])]);
  component_weight_[c] -= w;
  changed_[c] = 1;
  live_weight_ -= w;
  live_id_[slot] = -1;
  remaining_[slot] = std::numeric_limits<double>::infinity();
}

CollectiveResult FlowModel::run(const FlowSet& set_in, SimTime fixed_latency) {
  CollectiveResult r;
  if (&set_in.topology() != &topo_) throw std::logic_error("flow model: the flows are on another topology");
  if (set_in.size() == 0) return r;
  // Identical flows (same route and bytes) finish together: merge them, copying the set only if any.
  FlowSet merged(set_in.topology());
  if (set_in.has_identical()) {
    merged = set_in;
    merged.merge_identical();
  }
  const FlowSet& set = merged.size() > 0 ? merged : set_in;
  setup(set);
  compact();
  double now = 0, end = 0, step = 0;  // step: the last update's
  std::vector<Due> due_soon;
  while (live_weight_ > 0) {
    solve_rates();
    ++r.rate_updates;
    double first = 0;
    with_hops(hops_, [&](auto h) { first = scan_live<decltype(h)::value>(now, step, r.rate_updates > 1, due_soon); });
    // Every flow due within the window finishes now; the others advance by the latest of them.
    const double window = first + opt_.completion_tolerance * (now + first) + first * 1e-12;
    step = first;
    for (const Due& d : due_soon)
      if (d.s <= window) step = std::max(step, d.s);
    for (const Due& d : due_soon)
      if (d.s <= window) {
        end = std::max(end, now + d.s + latency_s_[static_cast<size_t>(live_id_[d.slot])]);
        finish(d.slot);
      }
    now += step;
    // Drop finished flows once they hold a third of the links' records.
    if (dead_records_ * 3 > link_first_.back()) compact();
  }
  // Round up to a whole picosecond so that no link is charged above 100%.
  r.duration = SimTime::from_ps_truncated(std::ceil(end * 1e12 - 1e-6)) + fixed_latency;
  r.fixed_latency = fixed_latency;
  loads_.add(set, r);
  loads_.finish(set, r);
  if (r.max_link_utilization > 1.0 + 1e-9) throw std::logic_error("flow model charged a link above 100%");
  return r;
}

}  // namespace moesim
