// Bit counting on 64-bit sets, portable: without -mpopcnt, __builtin_popcountll is a library
// call per set on x86-64 (the builds here target the baseline ISA, not the build machine's).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace moesim {

// Bits set in x (the SWAR count: Hacker's Delight, 2nd ed., section 5-1).
inline int popcount64(uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555ULL;
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return static_cast<int>((x * 0x0101010101010101ULL) >> 56);
}

// Bits set in each byte value (one load where a set is known to fit in a byte).
inline constexpr std::array<uint8_t, 256> kBitsInByte = [] {
  std::array<uint8_t, 256> t{};
  for (size_t v = 0; v < t.size(); ++v) t[v] = static_cast<uint8_t>((v & 1) + t[v / 2]);
  return t;
}();

}  // namespace moesim
