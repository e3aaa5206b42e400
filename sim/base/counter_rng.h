// Counter-based randomness: every stream is keyed by (seed, layer, micro-batch, device), so the
// numbers a device draws do not depend on thread count or evaluation order. The key is mixed
// with SplitMix64 into the state of a xoshiro256** generator (Blackman & Vigna, 2018).
#pragma once
#include <cstdint>

namespace moesim {

inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class CounterRng {
 public:
  CounterRng(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
    uint64_t x = seed;
    x ^= splitmix64(x) ^ a * 0xD1B54A32D192ED03ULL;
    x ^= splitmix64(x) ^ b * 0xABC98388FB8FAC03ULL;
    x ^= splitmix64(x) ^ c * 0x8CB92BA72F3D8DD7ULL;
    for (auto& s : s_) s = splitmix64(x);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }  // [0, n), Lemire's multiply-shift

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace moesim
