// Draws a token's top-k experts, without replacement, from a per-layer expert distribution
// (Walker's alias method with rejection of repeats), optionally group-limited as in
// DeepSeek-V2/V3: first top-g groups drawn by their probability mass, then experts inside them.
// Once a token's picks hold more than half of the candidates' mass, the next is drawn exactly, by
// a walk in order of probability (rejection would need 1 / (1 - share) draws on average).
// Where the number of possible group sets is small (8 choose 4 = 70 for DeepSeek-V3), an alias
// table per group set is built once, so that expert draws need no rejection of other groups.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/base/counter_rng.h"

namespace moesim {

class ExpertSampler {
 public:
  // weights: one non-negative weight per expert.
  ExpertSampler(std::vector<double> weights, int top_k, int num_groups, int topk_groups);
  // Writes top_k distinct expert ids into out.
  void sample(CounterRng& rng, int32_t* out) const;
  // sample() for `tokens` tokens in turn, into out[tokens * top_k]: the same draws from the same
  // stream. Faster: with at most 256 experts a token's repeats are found by a stamp per expert,
  // and where no top_k - 1 experts of the token's table hold kExactAbove of its mass (nearly any
  // popularity but the most skewed) the chosen mass is not summed.
  void sample_tokens(CounterRng& rng, int64_t tokens, int32_t* out) const;
  const std::vector<double>& probabilities() const { return prob_; }
  // Bytes its tables hold (about 110 KB for DeepSeek-V3's 70 group sets of 128 experts).
  size_t footprint_bytes() const;

 private:
  // Alias table over a list of candidates; one 64-bit draw picks a column and decides it.
  struct Alias {
    struct Column {
      uint32_t threshold;  // P(keep column) * 2^32
      int32_t keep, alias; // ids returned
    };
    std::vector<Column> columns;
    double mass = 0;  // the candidates' summed probability
    // No top_k - 1 candidates hold more than kExactAbove of `mass` (set by the sampler): a token
    // drawn from this table only ever rejects repeats, never walks.
    bool rejection_only = false;
    void build(const std::vector<double>& p, const std::vector<int32_t>& ids);
    int32_t draw(CounterRng& rng) const { return pick(columns.data(), columns.size(), rng.next()); }
    // The id a 64-bit draw r picks from n columns: its high half chooses the column, its low half
    // keeps the column's id or takes the alias.
    static int32_t pick(const Column* columns, uint64_t n, uint64_t r) {
      const Column& c = columns[((r >> 32) * n) >> 32];
      return static_cast<uint32_t>(r) < c.threshold ? c.keep : c.alias;
    }
  };
  // One expert among those allowed (in group_ok's groups, not chosen), by probability; remaining
  // is their summed probability, or negative to have it summed here.
  int32_t draw_exact(CounterRng& rng, const int32_t* chosen, int n_chosen, const uint8_t* group_ok, double remaining) const;
  void pick_groups(CounterRng& rng, uint8_t* group_ok) const;
  static bool holds(const int32_t* chosen, int n_chosen, int32_t id);
  // sample() where group sets are too many for a table each: groups picked one by one, experts
  // of other groups rejected.
  void sample_picking_groups(CounterRng& rng, int32_t* out) const;
  bool picks_groups_one_by_one() const { return topk_groups_ < num_groups_ && subsets_.columns.empty(); }
  // One token's top_k from `table` (the group set `subset`'s, or -1: all experts).
  void sample_from(const Alias& table, int32_t subset, CounterRng& rng, int32_t* out) const;
  // The group set drawn for a token and its table (all experts' when groups are not limited).
  const Alias& token_table(CounterRng& rng, int32_t& subset) const;
  // Marks the tables whose tokens never reach the exact walk (Alias::rejection_only).
  void mark_rejection_only(Alias& table) const;
  // The exact draw after kMaxRejections repeats (or once the chosen mass passed kExactAbove), in
  // the group set `subset` (-1: any expert); remaining: the allowed experts' mass.
  int32_t draw_after_rejection(CounterRng& rng, const int32_t* chosen, int n_chosen, int32_t subset, double remaining) const;
  int32_t subset_index(const uint8_t* group_ok) const;
  // Construction with group-limited routing: binomial coefficients, then (when the group sets
  // are few enough to enumerate) an alias table per group set and over the sets.
  void build_group_subsets();
  void build_subset_tables(int64_t subsets);
  // Probability that sequential draws without replacement (by group mass) pick exactly this set:
  // the sum over its orderings of the product of the conditional draw probabilities.
  double ordered_pick_probability(std::vector<int> set) const;

  std::vector<double> prob_;
  std::vector<int32_t> by_probability_;  // expert ids, most probable first (ties by id)
  int top_k_;
  int num_groups_;
  int topk_groups_;
  int experts_per_group_;
  Alias experts_;
  Alias groups_;
  std::vector<double> group_mass_;
  std::vector<Alias> by_subset_;                  // per group set, when enumerable
  Alias subsets_;                                 // draws a whole group set (its index), when enumerable
  std::vector<std::vector<int32_t>> groups_of_subset_;  // [subset] its groups (up to 256: no bit mask)
  std::vector<std::vector<int64_t>> binom_;       // binomial coefficients for subset ranking
  std::vector<int32_t> subset_of_mask_;           // group bitmask -> subset index (<= 16 groups)
};

}  // namespace moesim
