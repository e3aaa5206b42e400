// copy_checked_ids (eight ids per vector for top-k 1, 2, 4, 8; one at a time otherwise) against a
// plain per-token check, on random runs of tokens with bad ids planted at random places.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "sim/base/counter_rng.h"
#include "sim/io/trace_ids.h"

using namespace moesim;

namespace {

// Whether any token holds an id outside [0, experts) or one id twice, counted the plain way.
bool plain_bad(const std::vector<int32_t>& ids, int64_t k, int64_t experts) {
  for (size_t t = 0; t < ids.size(); t += static_cast<size_t>(k)) {
    std::set<int32_t> seen;
    for (int64_t i = 0; i < k; ++i) {
      const int32_t id = ids[t + static_cast<size_t>(i)];
      if (id < 0 || id >= experts || !seen.insert(id).second) return true;
    }
  }
  return false;
}

// count tokens of k distinct ids in [0, experts); with `plant`, one id of one token made bad
// (out of range, negative or a repeat of another id of its token).
std::vector<int32_t> random_tokens(CounterRng& rng, int64_t count, int64_t k, int64_t experts, bool plant) {
  std::vector<int32_t> ids;
  for (int64_t t = 0; t < count; ++t) {
    std::vector<int32_t> token;
    while (static_cast<int64_t>(token.size()) < k) {
      const auto e = static_cast<int32_t>(rng.below(static_cast<uint64_t>(experts)));
      if (std::find(token.begin(), token.end(), e) == token.end()) token.push_back(e);
    }
    ids.insert(ids.end(), token.begin(), token.end());
  }
  if (plant && !ids.empty()) {
    const auto at = static_cast<size_t>(rng.below(ids.size()));
    switch (rng.below(3)) {
      case 0: ids[at] = static_cast<int32_t>(experts + static_cast<int64_t>(rng.below(5))); break;
      case 1: ids[at] = -1 - static_cast<int32_t>(rng.below(3)); break;
      default: {  // a repeat of another id of the token, at any distance
        const auto uk = static_cast<size_t>(k), start = at - at % uk;
        ids[at] = k > 1 ? ids[start + (at - start + 1 + rng.below(static_cast<uint32_t>(k - 1))) % uk] : static_cast<int32_t>(experts);
      }
    }
  }
  return ids;
}

// The stored bytes of ids (int16 or int32) at an odd offset, as a memory-mapped member may be.
std::vector<unsigned char> stored(const std::vector<int32_t>& ids, bool int16) {
  std::vector<unsigned char> bytes(1 + ids.size() * (int16 ? 2 : 4));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (int16) {
      const auto v = static_cast<int16_t>(ids[i]);
      std::memcpy(bytes.data() + 1 + i * 2, &v, 2);
    } else {
      std::memcpy(bytes.data() + 1 + i * 4, &ids[i], 4);
    }
  }
  return bytes;
}

}  // namespace

TEST_CASE("copy_checked_ids copies ids and finds every bad one, vectorised or not", "[quick][trace]") {
  CounterRng rng(11, 3, 5);
  for (const int64_t k : {1, 2, 3, 4, 6, 8, 9}) {
    for (const bool int16 : {true, false}) {
      for (int trial = 0; trial < 200; ++trial) {
        const int64_t experts = k + static_cast<int64_t>(rng.below(300));
        const auto count = static_cast<int64_t>(rng.below(40));  // tails of every length
        const bool plant = rng.below(2) == 1;
        const std::vector<int32_t> ids = random_tokens(rng, count, k, experts, plant);
        const std::vector<unsigned char> bytes = stored(ids, int16);
        std::vector<int32_t> out(ids.size(), 12345);
        const bool bad = copy_checked_ids(bytes.data() + 1, int16, count, k, experts, out.data());
        INFO("top-k " << k << (int16 ? ", int16" : ", int32") << ", " << count << " tokens, " << experts << " experts");
        CHECK(bad == plain_bad(ids, k, experts));
        CHECK(bad == any_bad_ids(ids.data(), count, k, experts));
        CHECK(out == ids);
      }
    }
  }
}

TEST_CASE("copy_checked_ids: an int16 id of 32,768 or more is negative, bad for any expert count", "[quick][trace]") {
  const std::vector<int32_t> ids = {0, 1, 2, 3, 4, 5, 6, -32768};
  const std::vector<unsigned char> bytes = stored(ids, true);
  std::vector<int32_t> out(8);
  CHECK(copy_checked_ids(bytes.data() + 1, true, 1, 8, 1 << 20, out.data()));
  CHECK(out == ids);
}
