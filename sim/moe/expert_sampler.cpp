#include "sim/moe/expert_sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>

namespace moesim {
namespace {
constexpr int kMaxRejections = 32;
// Once the experts a token has chosen hold more than this share of its table's mass, the next one
// is drawn exactly (a walk) instead of by rejection: a Zipf exponent of 2.5 made rejection take
// thousands of draws per token (the whole run seemed to hang).
constexpr double kExactAbove = 0.5;
constexpr int64_t kMaxSubsetTables = 4096;
}  // namespace

size_t ExpertSampler::footprint_bytes() const {
  size_t bytes = sizeof(*this) + prob_.size() * sizeof(double) + by_probability_.size() * sizeof(int32_t) +
                 (experts_.columns.size() + groups_.columns.size() + subsets_.columns.size()) * sizeof(Alias::Column);
  for (const Alias& a : by_subset_) bytes += sizeof(Alias) + a.columns.size() * sizeof(Alias::Column);
  for (const auto& g : groups_of_subset_) bytes += sizeof(std::vector<int32_t>) + g.size() * sizeof(int32_t);
  for (const auto& b : binom_) bytes += sizeof(std::vector<int64_t>) + b.size() * sizeof(int64_t);
  return bytes + subset_of_mask_.size() * sizeof(int32_t) + group_mass_.size() * sizeof(double);
}

void ExpertSampler::Alias::build(const std::vector<double>& p_in, const std::vector<int32_t>& ids) {
  const size_t n = ids.size();
  double sum = 0;
  for (int32_t id : ids) sum += p_in[id];
  mass = sum;
  std::vector<double> scaled(n);
  std::vector<size_t> small, large;
  for (size_t i = 0; i < n; ++i) {
    scaled[i] = sum > 0 ? p_in[ids[i]] / sum * static_cast<double>(n) : 1.0;
    (scaled[i] < 1.0 ? small : large).push_back(i);
  }
  std::vector<int32_t> alias = ids;
  std::vector<double> t(n, 1.0);
  while (!small.empty() && !large.empty()) {
    const size_t s = small.back(), l = large.back();
    small.pop_back();
    t[s] = scaled[s];
    alias[s] = ids[l];
    scaled[l] = (scaled[l] + scaled[s]) - 1.0;
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  columns.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double v = std::clamp(t[i], 0.0, 1.0) * 4294967296.0;  // exact: a power of two
    columns[i].threshold = v >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(v);
    columns[i].keep = ids[i];
    columns[i].alias = t[i] >= 1.0 ? ids[i] : alias[i];
  }
}

ExpertSampler::ExpertSampler(std::vector<double> weights, int top_k, int num_groups, int topk_groups)
    : top_k_(top_k), num_groups_(num_groups), topk_groups_(topk_groups) {
  const int n = static_cast<int>(weights.size());
  if (n == 0 || top_k < 1 || top_k > n) throw std::invalid_argument("top_k must be in [1, experts]");
  if (num_groups < 1 || num_groups > 256 || n % num_groups != 0 || topk_groups < 1 || topk_groups > num_groups)
    throw std::invalid_argument("invalid expert groups");
  experts_per_group_ = n / num_groups;
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  // A tiny floor keeps every expert drawable, so that top_k distinct experts always exist.
  for (auto& w : weights) w = std::max(w, 0.0) + (total > 0 ? total : 1.0) * 1e-12;
  const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  prob_.resize(n);
  for (int i = 0; i < n; ++i) prob_[i] = weights[i] / sum;
  std::vector<int32_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  experts_.build(prob_, all);
  by_probability_ = all;
  std::stable_sort(by_probability_.begin(), by_probability_.end(), [&](int32_t a, int32_t b) { return prob_[a] > prob_[b]; });
  group_mass_.assign(num_groups, 0.0);
  for (int i = 0; i < n; ++i) group_mass_[i / experts_per_group_] += prob_[i];
  std::vector<int32_t> gids(num_groups);
  std::iota(gids.begin(), gids.end(), 0);
  groups_.build(group_mass_, gids);
  if (topk_groups_ < num_groups_) build_group_subsets();
  mark_rejection_only(experts_);
  for (Alias& table : by_subset_) mark_rejection_only(table);
}

void ExpertSampler::build_group_subsets() {
  binom_.assign(num_groups_ + 1, std::vector<int64_t>(topk_groups_ + 1, 0));
  for (int a = 0; a <= num_groups_; ++a) {
    binom_[a][0] = 1;
    for (int b = 1; b <= std::min(a, topk_groups_); ++b) binom_[a][b] = std::min<int64_t>(kMaxSubsetTables + 1, binom_[a - 1][b - 1] + (b <= a - 1 ? binom_[a - 1][b] : 0));
  }
  const int64_t subsets = binom_[num_groups_][topk_groups_];
  if (subsets > kMaxSubsetTables) return;
  build_subset_tables(subsets);
  if (num_groups_ <= 16) {
    subset_of_mask_.assign(size_t{1} << num_groups_, -1);
    for (uint32_t mask = 0; mask < subset_of_mask_.size(); ++mask) {
      if (__builtin_popcount(mask) != topk_groups_) continue;
      uint8_t ok[256] = {0};
      for (int g = 0; g < num_groups_; ++g) ok[g] = (mask >> g) & 1;
      subset_of_mask_[mask] = subset_index(ok);
    }
  }
}

double ExpertSampler::ordered_pick_probability(std::vector<int> set) const {
  std::sort(set.begin(), set.end());
  double total_p = 0;
  do {
    double p = 1, used = 0;
    for (int g : set) {
      p *= group_mass_[g] / std::max(1e-300, 1.0 - used);
      used += group_mass_[g];
    }
    total_p += p;
  } while (std::next_permutation(set.begin(), set.end()));
  return total_p;
}

void ExpertSampler::build_subset_tables(int64_t subsets) {
  by_subset_.resize(subsets);
  std::vector<double> subset_prob(subsets, 0.0);
  const bool exact_sets = topk_groups_ <= 6;
  // Enumerate k-subsets of groups in lexicographic order; rank them with subset_index.
  std::vector<int> pick(topk_groups_);
  std::iota(pick.begin(), pick.end(), 0);
  while (true) {
    uint8_t ok[256] = {0};
    std::vector<int32_t> ids;
    for (int g : pick) {
      ok[g] = 1;
      for (int e = g * experts_per_group_; e < (g + 1) * experts_per_group_; ++e) ids.push_back(e);
    }
    const int32_t idx = subset_index(ok);
    by_subset_[idx].build(prob_, ids);
    if (groups_of_subset_.size() < by_subset_.size()) groups_of_subset_.resize(by_subset_.size());
    groups_of_subset_[idx].assign(pick.begin(), pick.end());
    subset_prob[idx] = exact_sets ? ordered_pick_probability(pick) : 0.0;
    int i = topk_groups_ - 1;
    while (i >= 0 && pick[i] == num_groups_ - topk_groups_ + i) --i;
    if (i < 0) break;
    ++pick[i];
    for (int j = i + 1; j < topk_groups_; ++j) pick[j] = pick[j - 1] + 1;
  }
  if (exact_sets) {
    std::vector<int32_t> idx(subsets);
    std::iota(idx.begin(), idx.end(), 0);
    subsets_.build(subset_prob, idx);
  }
}

int32_t ExpertSampler::subset_index(const uint8_t* group_ok) const {
  // Combinatorial number system: sum of C(g, i+1) over the i-th chosen group g (ascending).
  int64_t idx = 0;
  int i = 0;
  for (int g = 0; g < num_groups_; ++g)
    if (group_ok[g]) idx += binom_[g][++i];
  return static_cast<int32_t>(idx);
}

int32_t ExpertSampler::draw_exact(CounterRng& rng, const int32_t* chosen, int n_chosen, const uint8_t* group_ok, double remaining) const {
  auto allowed = [&](int e) {
    if (group_ok && !group_ok[e / experts_per_group_]) return false;
    for (int j = 0; j < n_chosen; ++j)
      if (chosen[j] == e) return false;
    return true;
  };
  if (remaining < 0) {  // not known: the allowed experts' mass
    remaining = 0.0;
    for (int32_t e : by_probability_)
      if (allowed(e)) remaining += prob_[e];
  }
  // Walked from the most probable expert: with a skewed popularity (where this is needed most)
  // the draw ends after a few experts.
  double u = rng.uniform() * remaining;
  int last = -1;
  for (int32_t e : by_probability_) {
    if (!allowed(e)) continue;
    last = e;
    if (u < prob_[e]) return e;
    u -= prob_[e];
  }
  return last;
}

void ExpertSampler::pick_groups(CounterRng& rng, uint8_t* ok) const {
  std::fill(ok, ok + num_groups_, 0);
  for (int picked = 0; picked < topk_groups_; ++picked) {
    int32_t g = -1;
    for (int tries = 0; tries < kMaxRejections && g < 0; ++tries) {
      const int32_t c = groups_.draw(rng);
      if (!ok[c]) g = c;
    }
    if (g < 0) {  // exact draw among the groups not yet picked
      double rem = 0;
      for (int i = 0; i < num_groups_; ++i)
        if (!ok[i]) rem += group_mass_[i];
      double u = rng.uniform() * rem;
      for (int i = 0; i < num_groups_; ++i) {
        if (ok[i]) continue;
        g = i;
        if (u < group_mass_[i]) break;
        u -= group_mass_[i];
      }
    }
    ok[g] = 1;
  }
}

const ExpertSampler::Alias& ExpertSampler::token_table(CounterRng& rng, int32_t& subset) const {
  subset = -1;
  if (topk_groups_ == num_groups_) return experts_;
  subset = subsets_.draw(rng);
  return by_subset_[static_cast<size_t>(subset)];
}

void ExpertSampler::sample(CounterRng& rng, int32_t* out) const {
  if (picks_groups_one_by_one()) {
    sample_picking_groups(rng, out);
    return;
  }
  // One table for the whole token: all experts, or the group set's (drawn first).
  int32_t subset = -1;
  const Alias& table = token_table(rng, subset);
  sample_from(table, subset, rng, out);
}

void ExpertSampler::sample_from(const Alias& table, int32_t subset, CounterRng& rng, int32_t* out) const {
  // The generator and the table are held in locals so that the loop keeps them in registers.
  CounterRng local = rng;  // never addressed (the rare exact draw takes a copy): kept in registers
  const int top_k = top_k_;
  const Alias::Column* columns = table.columns.data();
  const uint64_t n_columns = table.columns.size();
  const double exact_above = kExactAbove * table.mass;
  double chosen_mass = 0;  // of the table's mass: rejection needs 1 / (1 - share) tries on average
  // Bit (id mod 256) of each chosen id: a clear bit rules a repeat out, and with at most 256
  // experts a set bit is one (no scan of the chosen ids).
  uint64_t chosen_bits[4] = {};
  const bool bits_exact = prob_.size() <= 256;
  for (int k = 0; k < top_k; ++k) {
    int32_t e = -1;
    for (int tries = chosen_mass > exact_above ? kMaxRejections : 0; tries < kMaxRejections; ++tries) {
      const int32_t x = Alias::pick(columns, n_columns, local.next());
      const uint64_t seen = chosen_bits[(x >> 6) & 3] >> (x & 63) & 1;
      if (seen == 0 || (!bits_exact && !holds(out, k, x))) {
        e = x;
        break;
      }
    }
    if (e < 0) {
      CounterRng exact = local;
      e = draw_after_rejection(exact, out, k, subset, std::max(0.0, table.mass - chosen_mass));
      local = exact;
    }
    out[k] = e;
    chosen_bits[(e >> 6) & 3] |= uint64_t{1} << (e & 63);
    chosen_mass += prob_[out[k]];
  }
  rng = local;
}

void ExpertSampler::sample_tokens(CounterRng& rng, int64_t tokens, int32_t* out) const {
  const int top_k = top_k_;
  if (prob_.size() > 256 || picks_groups_one_by_one()) {
    for (int64_t t = 0; t < tokens; ++t) sample(rng, out + t * top_k);
    return;
  }
  // stamp[e] == mark: expert e is already one of this token's picks (mark counts tokens).
  uint32_t stamp[256] = {};
  uint32_t mark = 0;
  CounterRng local = rng;
  for (int64_t t = 0; t < tokens; ++t, out += top_k) {
    if (++mark == 0) std::fill(stamp, stamp + 256, 0u), mark = 1;
    int32_t subset = -1;
    const Alias& table = token_table(local, subset);
    if (!table.rejection_only) {
      CounterRng walk = local;
      sample_from(table, subset, walk, out);
      local = walk;
      continue;
    }
    const Alias::Column* columns = table.columns.data();
    const uint64_t n_columns = table.columns.size();
    for (int k = 0; k < top_k; ++k) {
      int32_t x = Alias::pick(columns, n_columns, local.next());
      if (stamp[x] == mark) [[unlikely]] {
        // The same tries as sample_from: kMaxRejections draws in all, then the exact walk.
        for (int tries = 1; tries < kMaxRejections && stamp[x] == mark; ++tries) x = Alias::pick(columns, n_columns, local.next());
        if (stamp[x] == mark) {
          double chosen_mass = 0;  // summed in pick order, as sample_from does
          for (int j = 0; j < k; ++j) chosen_mass += prob_[out[j]];
          CounterRng exact = local;
          x = draw_after_rejection(exact, out, k, subset, std::max(0.0, table.mass - chosen_mass));
          local = exact;
        }
      }
      stamp[x] = mark;
      out[k] = x;
    }
  }
  rng = local;
}

void ExpertSampler::mark_rejection_only(Alias& table) const {
  std::vector<double> p;
  p.reserve(table.columns.size());
  for (const Alias::Column& c : table.columns) p.push_back(prob_[static_cast<size_t>(c.keep)]);
  const size_t others = std::min(p.size(), static_cast<size_t>(top_k_ - 1));
  std::partial_sort(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(others), p.end(), std::greater<>());
  double most = 0;  // the most that top_k - 1 picks can hold
  for (size_t i = 0; i < others; ++i) most += p[i];
  // Margin for the order of summation: a token's running sum of k < 256 terms is within 256
  // ulps of this bound.
  table.rejection_only = most * (1.0 + 1e-12) < kExactAbove * table.mass;
}

bool ExpertSampler::holds(const int32_t* chosen, int n_chosen, int32_t id) {
  for (int j = 0; j < n_chosen; ++j)
    if (chosen[j] == id) return true;
  return false;
}

int32_t ExpertSampler::draw_after_rejection(CounterRng& rng, const int32_t* chosen, int n_chosen, int32_t subset, double remaining) const {
  uint8_t ok_storage[256];
  const uint8_t* group_ok = nullptr;
  if (subset >= 0) {
    std::fill(ok_storage, ok_storage + num_groups_, uint8_t{0});
    for (int32_t g : groups_of_subset_[subset]) ok_storage[g] = 1;
    group_ok = ok_storage;
  }
  return draw_exact(rng, chosen, n_chosen, group_ok, remaining);
}

void ExpertSampler::sample_picking_groups(CounterRng& rng, int32_t* out) const {
  uint8_t group_ok[256];
  pick_groups(rng, group_ok);
  const Alias* table = &experts_;
  if (!by_subset_.empty()) {
    if (!subset_of_mask_.empty()) {
      uint32_t mask = 0;
      for (int g = 0; g < num_groups_; ++g) mask |= static_cast<uint32_t>(group_ok[g]) << g;
      table = &by_subset_[subset_of_mask_[mask]];
    } else {
      table = &by_subset_[subset_index(group_ok)];
    }
  }
  const bool reject_groups = table == &experts_;
  double chosen_mass = 0;  // of the table's mass: rejection needs 1 / (1 - share) tries on average
  for (int k = 0; k < top_k_; ++k) {
    int32_t e = -1;
    const int max_tries = chosen_mass > kExactAbove * table->mass ? 0 : kMaxRejections;
    for (int tries = 0; tries < max_tries && e < 0; ++tries) {
      const int32_t c = table->draw(rng);
      if (reject_groups && !group_ok[c / experts_per_group_]) continue;
      if (!holds(out, k, c)) e = c;
    }
    // The allowed mass is the table's less what was chosen, unless groups are rejected from a wider table.
    const double remaining = reject_groups ? -1.0 : std::max(0.0, table->mass - chosen_mass);
    out[k] = e >= 0 ? e : draw_exact(rng, out, k, group_ok, remaining);
    chosen_mass += prob_[out[k]];
  }
}

}  // namespace moesim
