// Per-token top-k sampling: distinct experts, group limits, marginals, determinism.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "sim/moe/expert_sampler.h"
#include "sim/moe/routing_source.h"

using namespace moesim;

TEST_CASE("top-k draws are distinct and deterministic per key", "[quick][routing]") {
  ExpertSampler s(zipf_weights(64, 1.2, 7, 3), 8, 1, 1);
  CounterRng a(1, 2, 3, 4), b(1, 2, 3, 4), c(1, 2, 3, 5);
  int32_t x[8], y[8], z[8];
  bool any_diff = false;
  for (int t = 0; t < 1000; ++t) {
    s.sample(a, x);
    s.sample(b, y);
    s.sample(c, z);
    CHECK(std::set<int32_t>(x, x + 8).size() == 8);
    CHECK(std::equal(x, x + 8, y));
    any_diff |= !std::equal(x, x + 8, z);
  }
  CHECK(any_diff);
}

TEST_CASE("group-limited routing uses at most topk_groups groups", "[quick][routing]") {
  // DeepSeek-V3 shape: 256 experts in 8 groups of 32, 4 groups per token, top-8.
  ExpertSampler s(zipf_weights(256, 0.45, 1, 0), 8, 8, 4);
  CounterRng rng(9, 9);
  int32_t x[8];
  for (int t = 0; t < 20000; ++t) {
    s.sample(rng, x);
    std::set<int32_t> groups;
    for (int32_t e : x) groups.insert(e / 32);
    REQUIRE(groups.size() <= 4);
    REQUIRE(std::set<int32_t>(x, x + 8).size() == 8);
  }
}

TEST_CASE("top-1 marginals match the distribution within sampling error", "[quick][routing]") {
  // With top_k = 1 the draw is exactly the distribution: check each share within 5 sigma.
  std::vector<double> w = {8, 4, 2, 1, 1, 0.5, 0.25, 0.25};
  ExpertSampler s(w, 1, 1, 1);
  CounterRng rng(3, 1);
  const int n = 200000;
  std::vector<int> count(8, 0);
  int32_t x;
  for (int t = 0; t < n; ++t) s.sample(rng, &x), ++count[x];
  const auto& p = s.probabilities();
  for (int e = 0; e < 8; ++e) {
    const double sigma = std::sqrt(n * p[e] * (1 - p[e]));
    CHECK(std::fabs(count[e] - n * p[e]) < 5 * sigma);
  }
}

TEST_CASE("group-set tables reproduce sequential group draws", "[quick][routing]") {
  // The fast path draws a whole group set at once; its frequency of picking group g must match
  // drawing 2 of 4 groups one by one without replacement (computed here by brute force).
  std::vector<double> w = {5, 1, 3, 1, 1, 1, 0.5, 0.5};  // 4 groups of 2: masses 6, 4, 2, 1 (/13)
  ExpertSampler s(w, 1, 4, 2);
  std::vector<double> m = {6.0 / 13, 4.0 / 13, 2.0 / 13, 1.0 / 13};
  // With top_k = 1, the expert is drawn from the chosen pair of groups by its weight; the test
  // checks the group of the drawn expert against sum over sets containing g of P(set) * share.
  std::vector<double> expect(4, 0.0);
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b) {
      const double p_set = m[a] * m[b] / (1 - m[a]) + m[b] * m[a] / (1 - m[b]);
      expect[a] += p_set * m[a] / (m[a] + m[b]);
      expect[b] += p_set * m[b] / (m[a] + m[b]);
    }
  CounterRng rng(5, 5);
  const int n = 200000;
  std::vector<int> got(4, 0);
  int32_t x;
  for (int t = 0; t < n; ++t) s.sample(rng, &x), ++got[x / 2];
  for (int g = 0; g < 4; ++g) {
    const double sigma = std::sqrt(n * expect[g] * (1 - expect[g]));
    CHECK(std::fabs(got[g] - n * expect[g]) < 5 * sigma);
  }
}

TEST_CASE("very skewed popularity: later picks are drawn exactly, by their conditional probability", "[quick][routing]") {
  // Zipf 2.5 over 256 experts, top-8 of 4 groups out of 8 (DeepSeek-V3's shape): rejection alone
  // needed thousands of draws per token. Without groups, the first pick is the top expert with
  // probability p1, and the first two are the top two with probability p1 * p2 / (1 - p1).
  for (const int groups : {1, 8}) {
    ExpertSampler s(zipf_weights(256, 2.5, 3, 0), 8, groups, groups == 1 ? 1 : 4);
    const auto& p = s.probabilities();
    std::vector<int32_t> order(256);
    for (int i = 0; i < 256; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
    CounterRng rng(9, 1);
    int32_t out[8];
    const int tokens = 20000;
    int first_is_top = 0, second_is_next = 0;
    for (int t = 0; t < tokens; ++t) {
      s.sample(rng, out);
      CHECK(std::set<int32_t>(out, out + 8).size() == 8);
      first_is_top += out[0] == order[0];
      second_is_next += out[0] == order[0] && out[1] == order[1];
    }
    if (groups == 1) {
      const double want = p[order[0]] * p[order[1]] / (1 - p[order[0]]);
      CHECK(first_is_top / double(tokens) == Approx(p[order[0]]).margin(0.02));
      CHECK(second_is_next / double(tokens) == Approx(want).margin(0.02));
    }
  }
}

TEST_CASE("sampling a batch of tokens draws what sampling them one by one draws", "[quick][routing]") {
  // sample_tokens finds repeats by stamps and skips the chosen mass where no top_k - 1 experts can
  // reach the exact walk; it must give the same picks and leave the stream in the same place.
  struct Shape {
    int experts, top_k, groups, topk_groups;
    double zipf;
  };
  const Shape shapes[] = {
      {64, 8, 1, 1, 1.2},    // no groups, frequent repeats of the top experts
      {256, 8, 8, 4, 0.45},  // DeepSeek-V3: a table per group set
      {256, 8, 8, 4, 2.5},   // the walk: some group sets' tables are not rejection-only
      {256, 8, 1, 1, 2.5},
      {12, 6, 1, 1, 0.0},    // uniform: five of twelve chosen, rejection only
      {8, 5, 1, 1, 0.0},     // uniform: four of eight reach the walk
      {128, 1, 1, 1, 1.0},
      {300, 8, 1, 1, 0.8},   // over 256 experts: one by one
      {256, 8, 16, 8, 0.6},  // group sets too many for tables: groups picked one by one
  };
  for (const Shape& sh : shapes) {
    ExpertSampler s(zipf_weights(sh.experts, sh.zipf, 5, 0), sh.top_k, sh.groups, sh.topk_groups);
    const int64_t tokens = 3000;
    std::vector<int32_t> one(static_cast<size_t>(tokens * sh.top_k)), batch(one.size());
    CounterRng a(4, 1, 2), b(4, 1, 2);
    for (int64_t t = 0; t < tokens; ++t) s.sample(a, one.data() + t * sh.top_k);
    s.sample_tokens(b, tokens, batch.data());
    INFO("experts " << sh.experts << " top-" << sh.top_k << " groups " << sh.groups << " zipf " << sh.zipf);
    CHECK(one == batch);
    CHECK(a.next() == b.next());
  }
}
