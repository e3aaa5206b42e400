// Fuzzes the megatron-jsonl importer (sim/import/import_megatron_jsonl.cpp): one
// router_trace_rank{r}.jsonl file with 16 experts.
#include "sim/import/importers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("router_trace_rank0.jsonl", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    moesim::ImportOptions o;
    o.model = "m";
    o.experts = 16;
    moesim::import_megatron_jsonl(path, o);
  });
  return 0;
}
