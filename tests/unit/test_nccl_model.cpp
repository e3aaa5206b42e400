// NCCL's collectives by protocol (sim/network/nccl_model.h): the fixed time of small calls, the
// size-dependent share of the link, the in-switch all-reduce, against nccl-tests' rows.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "sim/network/nccl_model.h"
#include "test_helpers.h"

using namespace moesim;

TEST_CASE("nccl model: small calls cost the fastest protocol's fixed time, large ones its share of the link", "[quick][comm]") {
  const double B = 450e9;
  CHECK(nccl_time(NcclCollective::AllToAll, 1e6, 1, B, true).ps() == 0);
  // 8 bytes: LL's 7.8 us; 512 MB all-to-all: Simple, 44 us + 7/8 x 512 MB at 0.72 x 450 GB/s.
  CHECK(nccl_time(NcclCollective::AllToAll, 8, 8, B, true).us() == Approx(7.8).epsilon(0.01));
  const double big = 512.0 * 1024 * 1024;
  CHECK(nccl_time(NcclCollective::AllToAll, big, 8, B, true).us() == Approx(44.0 + 7.0 / 8.0 * big / (0.72 * B) * 1e6));
  // Time grows with size; the in-switch all-reduce only helps large calls.
  double prev = 0;
  for (double s = 1e3; s < 1e9; s *= 2) {
    const double t = nccl_time(NcclCollective::AllReduce, s, 8, B, true).us();
    CHECK(t >= prev);
    CHECK(t <= nccl_time(NcclCollective::AllReduce, s, 8, B, false).us());
    prev = t;
  }
  CHECK(nccl_time(NcclCollective::AllReduce, big, 8, B, true).us() < 0.7 * nccl_time(NcclCollective::AllReduce, big, 8, B, false).us());
  // Retiming a transfer: never faster than the protocol's share allows.
  CHECK(nccl_alltoall_retime(SimTime::from_us(100), 0.8).time.us() == Approx(std::min(12.0 + 100 * 0.8 / 0.56, 44.0 + 100 * 0.8 / 0.72)));
  CHECK(nccl_alltoall_retime(SimTime::from_us(100), 0.8).alpha.us() == Approx(12.0));
  CHECK(nccl_alltoall_retime(SimTime::from_us(1000), 0.8).alpha.us() == Approx(44.0));
}

TEST_CASE("nccl model: nccl-tests all-to-all and all-reduce on one 8 x H100 node, median within 15%", "[quick][comm][validation][reference]") {
  // ../shared/reference/framework-kernels/comm_h100.csv, nccl_perf: nccl-tests 2.29.2 out-of-place
  // all-to-all and all-reduce over 8 H100 (`bytes`: the whole buffer). The protocols' lines were
  // fitted to these rows (nccl_model.h), so this checks the fit and pins it, not a prediction.
  const auto csv = test::reference_comm_rows();
  if (csv.empty()) {
    WARN("skipped: ../shared/reference/framework-kernels/comm_h100.csv not found beside the checkout");
    return;
  }
  std::vector<double> a2a, ar;
  for (const auto& f : csv) {
    // gpu,table,op,hidden,tokens,experts,topk,bytes,latency_us,source
    if (f.size() < 9 || f[1].rfind("nccl_perf", 0) != 0) continue;
    const double bytes = std::stod(f[7]), us = std::stod(f[8]);
    const bool all_reduce = f[2] == "allreduce";
    const double t = nccl_time(all_reduce ? NcclCollective::AllReduce : NcclCollective::AllToAll, bytes, 8, 450e9, true).us();
    (all_reduce ? ar : a2a).push_back(std::abs(t / us - 1));
  }
  REQUIRE(a2a.size() > 10);
  REQUIRE(ar.size() > 10);
  CHECK(test::median(a2a) <= 0.15);
  CHECK(test::median(ar) <= 0.15);
}
