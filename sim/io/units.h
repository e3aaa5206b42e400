// Quantities written with units in configs: "80 GiB", "450 GB/s", "400 Gb/s", "2 us",
// "989 TFLOP/s". Decimal prefixes (k, M, G, T, P) are powers of 1000, binary ones (Ki, Mi,
// Gi, Ti) powers of 1024; a lower-case "b" means bits. Each parser throws std::invalid_argument
// with a message saying what was expected.
#pragma once
#include <string>

#include "sim/engine/sim_time.h"

namespace moesim::units {

double parse_bytes(const std::string& text);             // -> bytes
double parse_bandwidth(const std::string& text);         // -> bytes per second
double parse_flops_rate(const std::string& text);        // -> FLOP per second
SimTime parse_duration(const std::string& text);         // -> picoseconds
double parse_duration_seconds(const std::string& text);  // -> seconds (double)


}  // namespace moesim::units
