// Fuzzes moesim's .npz routing-trace reader (sim/io/routing_trace.h, sim/io/npz_archive.h):
// open, validate the header, read every token of the first layers.
#include <vector>

#include "sim/io/routing_trace.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = moesim::fuzz::write_input("trace.npz", data, size);
  moesim::fuzz::expect_input_errors_only([&] {
    const moesim::RoutingTrace t(path);
    const auto& h = t.header();
    if (h.top_k > 4096) return;
    std::vector<int32_t> ids(static_cast<size_t>(h.top_k));
    std::vector<float> w(ids.size());
    for (size_t l = 0; l < h.layers.size() && l < 4; ++l)
      for (int64_t k = 0; k < h.tokens && k < 4096; ++k) t.read_token(l, k, ids.data(), w.data());
  });
  return 0;
}
