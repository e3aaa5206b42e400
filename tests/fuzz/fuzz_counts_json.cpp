// Fuzzes the expert-counts JSON reader (sim/io/expert_counts_file.h): SGLang logical_count and
// moesim-counts with pair_counts; a file that reads is written back and read again.
#include "sim/io/expert_counts_file.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("counts.json", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    auto c = moesim::load_expert_counts(path);
    if (c.format != "moesim-counts") return;
    const std::string again = moesim::fuzz::temp_path("counts_again.json");
    moesim::write_expert_counts(again, c);
    const auto back = moesim::load_expert_counts(again);
    if (back.counts != c.counts || back.pair_counts != c.pair_counts || back.layers != c.layers) __builtin_trap();
  });
  return 0;
}
