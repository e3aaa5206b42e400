// Every registry entry has a closed-form test of its own: a Catch2 case tagged [entry:NAME]. Adding
// a placement policy, an all-to-all algorithm, a topology, a routing source, an importer or an
// expert backend without one fails here (docs/extending.md).
#include <algorithm>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "sim/hardware/device_cost.h"
#include "sim/hardware/expert_backends.h"
#include "sim/import/importers.h"
#include "sim/moe/placement.h"
#include "sim/moe/routing_source.h"
#include "sim/network/a2a.h"
#include "sim/network/topology_registry.h"
#include "sim/scenario/data_paths.h"
#include "test_helpers.h"

using namespace moesim;

namespace {

std::set<std::string> entry_tags() {
  std::set<std::string> out;
  for (const auto& tc : Catch::getRegistryHub().getTestCaseRegistry().getAllTests())
    for (const auto& tag : tc.getTestCaseInfo().tags)
      if (tag.rfind("entry:", 0) == 0) out.insert(tag.substr(6));
  return out;
}

template <typename Reg>
void require_tests(const Reg& reg, const char* what, const std::set<std::string>& tagged) {
  for (const auto& name : reg.names()) {
    INFO(what << " \"" << name << "\" has no test case tagged [entry:" << name << "]");
    CHECK(tagged.count(name) == 1);
  }
}

}  // namespace

TEST_CASE("every registry entry has a closed-form test of its own", "[quick][registry]") {
  const auto tagged = entry_tags();
  require_tests(placement_registry(), "placement", tagged);
  require_tests(routing_registry(), "routing source", tagged);
  require_tests(topology_registry(), "topology", tagged);
  require_tests(a2a_registry(), "all-to-all algorithm", tagged);
  require_tests(importer_registry(), "importer", tagged);
  require_tests(expert_backend_registry(), "expert backend", tagged);
}

TEST_CASE("every registry entry is described and cited, and names are unique", "[quick][registry]") {
  auto check = [](const auto& reg) {
    const auto names = reg.names();
    CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
    for (const auto& e : reg.entries()) {
      INFO(e.name);
      CHECK(!e.description.empty());
      CHECK(!e.citation.empty());
      for (const auto& p : e.params) CHECK((!p.key.empty() && !p.type.empty() && !p.description.empty()));
    }
  };
  check(placement_registry());
  check(routing_registry());
  check(topology_registry());
  check(a2a_registry());
  check(importer_registry());
  check(expert_backend_registry());
}

TEST_CASE("expert backends: auto takes the measured table for the dtype, else the roofline",
          "[quick][calibration][entry:auto][entry:roofline][entry:torch-grouped-mm][entry:cublas-grouped]") {
  // The bundled H100 table measured torch-grouped-mm in bf16 and cublas-grouped in bf16 and fp8
  // (calibration/ACCURACY.md); the Ascend profile has no table.
  const auto h100 = load_hardware_file(test::repo_path("hw_profiles/H100-SXM.json"));
  const std::vector<int64_t> counts = {128, 64, 0, 32};
  auto source = [&](const HardwareProfile& hw, const std::string& backend, Dtype dtype) {
    DeviceCostOptions o;
    o.expert_backend = backend;
    o.expert_dtype = dtype;
    o.data_dir = data_dir();
    return DeviceCostModel(hw, o).expert_block(7168, 2048.0, dtype, dtype_bytes(dtype), 2.0, counts).source;
  };
  CHECK(source(h100, "auto", Dtype::Bf16) == "calibrated:torch-grouped-mm");
  CHECK(source(h100, "auto", Dtype::Fp8) == "calibrated:cublas-grouped");
  CHECK(source(h100, "torch-grouped-mm", Dtype::Bf16) == "calibrated:torch-grouped-mm");
  CHECK(source(h100, "cublas-grouped", Dtype::Bf16) == "calibrated:cublas-grouped");
  CHECK(source(h100, "roofline", Dtype::Bf16) == "roofline");
  const auto ascend = load_hardware_file(test::repo_path("hw_profiles/Ascend-910B.json"));
  CHECK(source(ascend, "auto", Dtype::Bf16) == "roofline");
  CHECK_THROWS_AS(source(ascend, "cublas-grouped", Dtype::Bf16), CostSourceError);
  // A measured backend's time is the table's; the roofline's is FLOPs / (peak x efficiency) or bytes.
  DeviceCostOptions o;
  o.expert_backend = "roofline";
  o.data_dir = data_dir();
  const DeviceCostModel roof(h100, o);
  const double flops = 6.0 * 224 * 7168 * 2048;  // 224 tokens over three active experts
  CHECK(roof.expert_block(7168, 2048.0, Dtype::Bf16, 2.0, 2.0, counts).time.seconds() >=
        flops / (h100.flops_for(Dtype::Bf16) * h100.matmul_efficiency) * (1 - 1e-9));
}
