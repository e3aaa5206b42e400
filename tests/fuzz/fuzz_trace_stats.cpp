// Fuzzes `moesim trace stats` (sim/import/trace_stats.h) on a trace (.npz, told by its zip
// magic) or a counts JSON: statistics, affinity, then a greedy placement on 2 devices.
#include "sim/import/trace_stats.h"
#include "sim/moe/placement_stats.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("stats_input", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    auto s = moesim::routing_stats(path);
    moesim::StatsPlacement p;
    p.policy = "greedy";
    p.devices = 2;
    p.redundant = s.num_experts % 2;
    if (s.num_experts <= 4096) moesim::add_device_loads(s, p);
    moesim::stats_to_json(s, &p).dump();
  });
  return 0;
}
