// One device per EP group: the tokens' experts are all local, so no all-to-all is paid.
#include <catch2/catch.hpp>

#include "test_helpers.h"

using namespace moesim;

TEST_CASE("EP1 pays no dispatch or combine and holds no communication buffers", "[quick][comm]") {
  const Json r = test::run_report(R"({"name": "one", "model": "qwen3-30b-a3b", "hardware": "H200", "cluster": {"nodes": 1, "devices_per_node": 1},
    "parallel": {"expert_parallel": 1}, "workload": {"phase": "prefill", "tokens_per_device": 4096, "sequence_length": 4096},
    "routing": {"source": "synthetic", "distribution": "uniform", "seed": 1}})");
  CHECK(r["breakdown_us"]["dispatch"].get<double>() == 0.0);
  CHECK(r["breakdown_us"]["combine"].get<double>() == 0.0);
  CHECK(r["breakdown_us"]["exposed_comm"].get<double>() == 0.0);
  CHECK(r["breakdown_us"]["expert_compute"].get<double>() > 0.0);
  // The permuted tokens are buffers of the layer still, but DeepEP's own buffers are not allocated.
  CHECK(r["hbm"]["devices"][0]["categories"]["a2a_buffers_bytes"].get<double>() < 1e9);
}
