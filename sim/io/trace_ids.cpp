#include "sim/io/trace_ids.h"

#include <cstddef>
#include <cstring>
#include <utility>

// The 32-byte vectors below live only inside this file's inlined loops (no function of another
// file takes or returns one), so GCC's note that their ABI would differ with AVX does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace moesim {

namespace {

// Whether any of `count` tokens of K ids each holds an id outside [0, experts) or one id twice;
// without a branch per element (K a compile-time constant unrolls the pair checks).
template <int K>
bool any_bad_ids_scalar(const int32_t* ids, int64_t count, int64_t experts) {
  bool bad = false;
  for (int64_t t = 0; t < count; ++t) {
    const int32_t* x = ids + t * K;
    for (int i = 0; i < K; ++i) {
      bad |= static_cast<uint32_t>(x[i]) >= static_cast<uint64_t>(experts);
      for (int j = 0; j < i; ++j) bad |= x[j] == x[i];
    }
  }
  return bad;
}

// Eight ids in one vector: int16 lanes (16 bytes) or int32 lanes (32 bytes).
typedef int16_t I16x8 __attribute__((vector_size(16)));
typedef uint16_t U16x8 __attribute__((vector_size(16)));
typedef int32_t I32x8 __attribute__((vector_size(32)));
typedef uint32_t U32x8 __attribute__((vector_size(32)));

struct Int16Lanes {
  using Ids = I16x8;
  using Unsigned = U16x8;
  using Unsigned1 = uint16_t;
  // An int16 id at or above 32,768 as unsigned is a negative id: out of range for any model.
  static constexpr int64_t kMaxBound = 32768;
};
struct Int32Lanes {
  using Ids = I32x8;
  using Unsigned = U32x8;
  using Unsigned1 = uint32_t;
  static constexpr int64_t kMaxBound = int64_t{1} << 31;
};

// v with each group of K lanes rotated by R (lane i of a group takes lane (i + R) mod K).
template <int K, int R, class V, std::size_t... I>
V rotated_in_groups(V v, std::index_sequence<I...> /*lanes*/) {
  return __builtin_shufflevector(v, v, ((I / K) * K + (I % K + R) % K)...);
}

// Lanes equal to another lane of their group of K: comparing with the rotations by 1..K/2 meets
// every pair of a group (the rotation by r and by K - r meet the same pairs).
template <int K, class V, std::size_t... R>
V repeated_lanes(V v, std::index_sequence<R...> /*rotations - 1*/) {
  V repeated = {};
  ((repeated |= (v == rotated_in_groups<K, static_cast<int>(R) + 1>(v, std::make_index_sequence<8>{}))), ...);
  return repeated;
}

// copy_checked_ids for K in {1, 2, 4, 8}: eight ids (8 / K tokens) per step; the tail (fewer
// than eight ids, whole tokens since K divides 8) one id at a time.
template <class Lanes, int K>
bool copy_checked_lanes(const unsigned char* src, int64_t count, int64_t experts, int32_t* ids) {
  using Ids = typename Lanes::Ids;
  using Unsigned = typename Lanes::Unsigned;
  constexpr std::size_t kIdBytes = sizeof(Ids) / 8;
  const int64_t n = count * K;
  const auto bound = static_cast<typename Lanes::Unsigned1>(experts < Lanes::kMaxBound ? experts : Lanes::kMaxBound);
  const Unsigned limit = Unsigned{} + bound;
  Ids bad = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    Ids v;
    std::memcpy(&v, src + i * kIdBytes, sizeof v);
    bad |= __builtin_convertvector(v, Unsigned) >= limit;
    if constexpr (K > 1) bad |= repeated_lanes<K>(v, std::make_index_sequence<K / 2>{});
    const I32x8 wide = __builtin_convertvector(v, I32x8);
    std::memcpy(ids + i, &wide, sizeof wide);
  }
  bool any = false;
  for (int lane = 0; lane < 8; ++lane) any |= bad[lane] != 0;
  for (int64_t j = i; j < n; ++j) {
    if constexpr (kIdBytes == 2) {
      int16_t v;
      std::memcpy(&v, src + j * 2, 2);
      ids[j] = v;
    } else {
      std::memcpy(ids + j, src + j * 4, 4);
    }
  }
  return any | any_bad_ids_scalar<K>(ids + i, (n - i) / K, experts);
}

template <class Lanes>
bool copy_checked_lanes(const unsigned char* src, int64_t count, int64_t k, int64_t experts, int32_t* ids) {
  switch (k) {
    case 1: return copy_checked_lanes<Lanes, 1>(src, count, experts, ids);
    case 2: return copy_checked_lanes<Lanes, 2>(src, count, experts, ids);
    case 4: return copy_checked_lanes<Lanes, 4>(src, count, experts, ids);
    case 8: return copy_checked_lanes<Lanes, 8>(src, count, experts, ids);
    default: break;
  }
  const int64_t n = count * k;
  if constexpr (sizeof(typename Lanes::Ids) == 16) {
    for (int64_t i = 0; i < n; ++i) {
      int16_t v;
      std::memcpy(&v, src + i * 2, 2);
      ids[i] = v;
    }
  } else {
    std::memcpy(ids, src, static_cast<std::size_t>(n) * 4);
  }
  return any_bad_ids(ids, count, k, experts);
}

}  // namespace

bool any_bad_ids(const int32_t* ids, int64_t count, int64_t k, int64_t experts) {
  switch (k) {
    case 1: return any_bad_ids_scalar<1>(ids, count, experts);
    case 2: return any_bad_ids_scalar<2>(ids, count, experts);
    case 4: return any_bad_ids_scalar<4>(ids, count, experts);
    case 6: return any_bad_ids_scalar<6>(ids, count, experts);
    case 8: return any_bad_ids_scalar<8>(ids, count, experts);
    default: break;
  }
  bool bad = false;
  for (int64_t i = 0; i < count * k; ++i) {
    bad |= static_cast<uint32_t>(ids[i]) >= static_cast<uint64_t>(experts);
    const int64_t token_start = i - i % k;
    for (int64_t j = token_start; j < i; ++j) bad |= ids[j] == ids[i];
  }
  return bad;
}

bool copy_checked_ids(const unsigned char* src, bool int16, int64_t count, int64_t k, int64_t experts, int32_t* ids) {
  return int16 ? copy_checked_lanes<Int16Lanes>(src, count, k, experts, ids) : copy_checked_lanes<Int32Lanes>(src, count, k, experts, ids);
}

}  // namespace moesim
