#include "sim/io/units.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace moesim::units {
namespace {

struct Split {
  double value;
  std::string unit;
};

// Whether [begin, end) is a plain decimal number: digits with an optional point and exponent,
// no hexadecimal ("0x10", which strtod reads as 16), "inf" or "nan".
bool is_decimal(const char* begin, const char* end) {
  while (begin < end && *begin == ' ') ++begin;
  if (begin < end && (*begin == '+' || *begin == '-')) ++begin;
  if (begin == end || !(std::isdigit(static_cast<unsigned char>(*begin)) || *begin == '.')) return false;
  for (const char* c = begin; c < end; ++c)
    if (!std::isdigit(static_cast<unsigned char>(*c)) && *c != '.' && *c != 'e' && *c != 'E' && *c != '+' && *c != '-') return false;
  return true;
}

// `example`: a valid text of the kind, for the message.
Split split_number(const std::string& text, const char* what, const char* example) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin || !is_decimal(begin, end))
    throw std::invalid_argument(fmt::format("expected {} such as \"{}\" (a decimal number, then the unit), got \"{}\"", what, example, text));
  std::string unit(end);
  size_t a = unit.find_first_not_of(' ');
  unit = a == std::string::npos ? "" : unit.substr(a);
  while (!unit.empty() && unit.back() == ' ') unit.pop_back();
  if (!std::isfinite(v)) throw std::invalid_argument(fmt::format("{} must be finite, got \"{}\"", what, text));
  if (v < 0) throw std::invalid_argument(fmt::format("{} must not be negative, got \"{}\"", what, text));
  return {v, unit};
}

// Returns the multiplier of a prefix at the start of `unit` and strips it. Binary prefixes
// (Ki, Mi, ...) are tried first.
double take_prefix(std::string& unit) {
  static const struct { const char* p; double m; } prefixes[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}};
  for (const auto& p : prefixes) {
    const std::string s(p.p);
    if (unit.size() > s.size() && unit.compare(0, s.size(), s) == 0) {
      unit = unit.substr(s.size());
      return p.m;
    }
  }
  return 1.0;
}

// value x multiplier, refused when the product leaves [0, max]: a finite number with a prefix
// can still overflow ("1e308 GiB" is infinite) or exceed what anything downstream can sum.
double scaled(double v, double m, double max, const char* what, const std::string& text) {
  const double x = v * m;
  if (!std::isfinite(x) || x > max)
    throw std::invalid_argument(fmt::format("{} \"{}\" is out of range (at most {:g} in base units)", what, text, max));
  return x;
}

constexpr double kMaxBytes = 1152921504606846976.0;  // 2^60 B = 1 EiB
constexpr double kMaxBytesPerSecond = 1e18;
constexpr double kMaxFlopsPerSecond = 1e21;
constexpr double kMaxSeconds = 1e6;                  // the simulated clock holds 2^63 ps (about 106 days)

}  // namespace

double parse_bytes(const std::string& text) {
  auto [v, unit] = split_number(text, "a size with units", "80 GiB");
  std::string u = unit;
  const double m = take_prefix(u);
  const double bytes = u == "B" ? scaled(v, m, kMaxBytes, "the size", text) : u == "b" ? scaled(v, m / 8.0, kMaxBytes, "the size", text) : -1.0;
  if (bytes > 0 && bytes < 1) throw std::invalid_argument(fmt::format("the size \"{}\" is less than one byte", text));
  if (bytes >= 0) return bytes;
  throw std::invalid_argument(fmt::format("expected a size with units such as \"80 GiB\" or \"512 MB\", got \"{}\"", text));
}

double parse_bandwidth(const std::string& text) {
  auto [v, unit] = split_number(text, "a bandwidth with units", "400 Gb/s");
  std::string u = unit;
  const double m = take_prefix(u);
  if (u == "B/s" || u == "Bps") return scaled(v, m, kMaxBytesPerSecond, "the bandwidth", text);
  if (u == "b/s" || u == "bps") return scaled(v, m / 8.0, kMaxBytesPerSecond, "the bandwidth", text);
  throw std::invalid_argument(fmt::format("expected a bandwidth such as \"450 GB/s\" or \"400 Gb/s\", got \"{}\"", text));
}

double parse_flops_rate(const std::string& text) {
  auto [v, unit] = split_number(text, "a FLOP rate with units", "989 TFLOP/s");
  std::string u = unit;
  const double m = take_prefix(u);
  if (u == "FLOP/s" || u == "FLOPS" || u == "flop/s") return scaled(v, m, kMaxFlopsPerSecond, "the FLOP rate", text);
  throw std::invalid_argument(fmt::format("expected a FLOP rate such as \"989 TFLOP/s\", got \"{}\"", text));
}

double parse_duration_seconds(const std::string& text) {
  auto [v, unit] = split_number(text, "a duration with units", "2 us");
  if (unit == "s") return scaled(v, 1.0, kMaxSeconds, "the duration", text);
  if (unit == "ms") return scaled(v, 1e-3, kMaxSeconds, "the duration", text);
  if (unit == "us" || unit == "\xC2\xB5s") return scaled(v, 1e-6, kMaxSeconds, "the duration", text);
  if (unit == "ns") return scaled(v, 1e-9, kMaxSeconds, "the duration", text);
  if (unit == "ps") return scaled(v, 1e-12, kMaxSeconds, "the duration", text);
  throw std::invalid_argument(fmt::format("expected a duration such as \"2 us\" or \"1.5 ms\", got \"{}\"", text));
}

SimTime parse_duration(const std::string& text) { return SimTime::from_seconds(parse_duration_seconds(text)); }

}  // namespace moesim::units
