// A routing trace's expert ids, read and checked: the stored int16 or int32 ids of a run of tokens
// copied out as int32, with one verdict for the run (any id out of range, or one id twice in a
// token); RoutingTrace names the first bad token when the verdict is bad.
#pragma once
#include <cstdint>

namespace moesim {

// Whether any of `count` tokens of `k` ids each (ids[count * k]) holds an id outside
// [0, experts) or the same id twice.
bool any_bad_ids(const int32_t* ids, int64_t count, int64_t k, int64_t experts);

// Copies count * k ids stored at `src` (native-endian int16 when `int16`, else int32; any
// alignment) into ids[count * k] and returns any_bad_ids of them. Top-k of 1, 2, 4 and 8 are
// checked eight ids at a time (GCC/clang vector extensions: SSE2 on x86-64, NEON on AArch64);
// other top-k one id at a time. Same verdict either way (a unit test compares them).
bool copy_checked_ids(const unsigned char* src, bool int16, int64_t count, int64_t k, int64_t experts, int32_t* ids);

}  // namespace moesim
