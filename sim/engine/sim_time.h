// Simulated time: a signed 64-bit count of picoseconds behind one type (as in SST-core and
// htsim). Arithmetic is overflow-checked; conversions to and from microseconds are explicit.
#pragma once
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace moesim {

class SimTime {
 public:
  constexpr SimTime() = default;
  static constexpr SimTime from_ps(int64_t ps) { return SimTime(ps); }
  static SimTime from_us(double us) { return from_seconds(us * 1e-6); }
  static SimTime from_seconds(double s);
  // ps, truncated toward zero like a cast, but refused (std::overflow_error) when not finite or
  // beyond the clock: every double that becomes a time goes through here or from_seconds.
  static SimTime from_ps_truncated(double ps);
  static constexpr SimTime zero() { return SimTime(0); }
  static constexpr SimTime max() { return SimTime(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t ps() const { return ps_; }
  double us() const { return static_cast<double>(ps_) * 1e-6; }
  double seconds() const { return static_cast<double>(ps_) * 1e-12; }

  SimTime operator+(SimTime o) const {
    int64_t r;
    if (__builtin_add_overflow(ps_, o.ps_, &r)) throw std::overflow_error("simulated time overflow");
    return SimTime(r);
  }
  SimTime operator-(SimTime o) const {
    int64_t r;
    if (__builtin_sub_overflow(ps_, o.ps_, &r)) throw std::overflow_error("simulated time overflow");
    return SimTime(r);
  }
  SimTime operator*(int64_t k) const {
    int64_t r;
    if (__builtin_mul_overflow(ps_, k, &r)) throw std::overflow_error("simulated time overflow");
    return SimTime(r);
  }
  SimTime& operator+=(SimTime o) { return *this = *this + o; }
  auto operator<=>(const SimTime&) const = default;

 private:
  constexpr explicit SimTime(int64_t ps) : ps_(ps) {}
  int64_t ps_ = 0;
};

inline SimTime max(SimTime a, SimTime b) { return a < b ? b : a; }
inline SimTime min(SimTime a, SimTime b) { return a < b ? a : b; }

}  // namespace moesim
