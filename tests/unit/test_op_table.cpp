// The per-op measured table (sim/hardware/op_table.h), the ops of a layer (sim/moe/layer_ops.h),
// their costing and the eager launch pipeline (sim/scenario/layer_op_costs.h), and the transfer of
// the H200's table to the H100 (sim/hardware/device_cost.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "sim/hardware/device_cost.h"
#include "sim/hardware/op_table.h"
#include "sim/moe/layer_ops.h"
#include "sim/scenario/data_paths.h"
#include "sim/scenario/layer_op_costs.h"
#include "test_helpers.h"

using namespace moesim;

namespace {

// rows {1, 4, 16} x width {128, 512}; graph time = 2 + rows * width / 64 us, host 10 us; the
// cell (16, 512) unmeasured.
Json small_table() {
  Json g = Json::array(), e = Json::array(), h = Json::array();
  for (double r : {1.0, 4.0, 16.0})
    for (double w : {128.0, 512.0}) {
      const bool missing = r == 16.0 && w == 512.0;
      g.push_back(missing ? Json(nullptr) : Json(2.0 + r * w / 64.0));
      e.push_back(missing ? Json(nullptr) : Json(30.0));
      h.push_back(missing ? Json(nullptr) : Json(10.0));
    }
  return {{"format", "moesim-op-table-1"}, {"hardware", "TEST"}, {"graph_launch_us", 5.0},
          {"ops", {{"rms_norm", {{"kernel", "test"},
                                 {"axes", {{{"name", "rows"}, {"values", {1, 4, 16}}}, {{"name", "width"}, {"values", {128, 512}}}}},
                                 {"graph_us", g}, {"eager_us", e}, {"host_us", h}}}}}};
}

OpTable parse(const Json& j) {
  const auto doc = JsonDocument::from_json(j, "test.ops.json");
  return parse_op_table(doc.root());
}

}  // namespace

TEST_CASE("op table: exact at measured points, log-log between, power law outside", "[quick][calibration]") {
  const OpTable t = parse(small_table());
  CHECK(t.lookup("rms_norm", {4, 128})->graph_us == Approx(2 + 4 * 2.0));
  CHECK_FALSE(t.lookup("rms_norm", {4, 128})->extrapolated);
  // Halfway in log(rows) between 1 and 4: the geometric mean of the two times.
  CHECK(t.lookup("rms_norm", {2, 128})->graph_us == Approx(std::sqrt(4.0 * 10.0)));
  // Below the first value: the first value's time (launch-bound), marked.
  const auto low = t.lookup("rms_norm", {0.5, 128});
  CHECK(low->graph_us == Approx(4.0));
  CHECK(low->extrapolated);
  // Above the last value: linear in the axis (exponent 1).
  CHECK(t.lookup("rms_norm", {32, 128})->graph_us == Approx(2.0 * (2 + 16 * 2.0)));
  // An unmeasured cell: the first axis lowered to the largest value whose cells exist, scaled.
  const auto miss = t.lookup("rms_norm", {16, 512});
  CHECK(miss->extrapolated);
  CHECK(miss->graph_us == Approx((2 + 4 * 8.0) * 4.0));
  CHECK(t.lookup("rms_norm", {4, 128})->host_us == Approx(10.0));
  CHECK_FALSE(t.lookup("no_such_op", {1, 1}));
  CHECK_THROWS_AS(t.lookup("rms_norm", {1}), InputError);
  CHECK_THROWS_AS(t.lookup("rms_norm", {-1, 128}), InputError);
  CHECK_THROWS_AS(t.lookup("rms_norm", {std::numeric_limits<double>::infinity(), 128}), InputError);
  // The eager latency: the median of eager - max(graph, host) over measured points.
  CHECK(t.eager_latency_us == Approx(30.0 - 12.0).margin(8.0));
}

TEST_CASE("op table: a malformed table names its path", "[quick][calibration][errors]") {
  Json j = small_table();
  j["format"] = "moesim-op-table-0";
  CHECK_THROWS_WITH(parse(j), Catch::Contains("$.format"));
  j = small_table();
  j["ops"]["rms_norm"]["axes"][0]["values"] = {4, 1, 16};
  CHECK_THROWS_WITH(parse(j), Catch::Contains("$.ops.rms_norm.axes[0].values[1]"));
  j = small_table();
  j["ops"]["rms_norm"]["graph_us"].erase(0);
  CHECK_THROWS_WITH(parse(j), Catch::Contains("one per grid point"));
  j = small_table();
  j["ops"]["rms_norm"]["graph_us"][0] = -3;
  CHECK_THROWS_WITH(parse(j), Catch::Contains("$.ops.rms_norm.graph_us[0]"));
  j = small_table();
  j["ops"]["rms_norm"]["colour"] = 1;
  CHECK_THROWS_WITH(parse(j), Catch::Contains("colour"));
}

TEST_CASE("eager launch: the GPU waits for the host, the host for nothing", "[quick][calibration]") {
  auto op = [](double gpu_us, double host_us) {
    CostedOp o;
    o.gpu = SimTime::from_us(gpu_us);
    o.host = SimTime::from_us(host_us);
    return o;
  };
  // Host-bound: the end is the host's last issue.
  CHECK(eager_sequence_time({op(2, 10), op(2, 10), op(2, 10)}).us() == Approx(30));
  // GPU-bound: the first op waits for nothing, then the GPU runs back to back.
  CHECK(eager_sequence_time({op(100, 10), op(100, 10), op(100, 10)}).us() == Approx(300));
  // A long op lets the host run ahead: the short ops after it cost only their GPU time.
  CHECK(eager_sequence_time({op(2, 10), op(500, 10), op(2, 10), op(2, 10)}).us() == Approx(10 + 500 + 2 + 2));
}

TEST_CASE("layer ops: what each attention kind runs, per device", "[quick][simulation]") {
  const auto mixtral = load_model_file(test::repo_path("models/mixtral-8x7b.json"));
  const auto dsv3 = load_model_file(test::repo_path("models/deepseek-v3.json"));
  const auto qwen = load_model_file(test::repo_path("models/qwen3-30b-a3b.json"));
  LayerShape s;
  s.tokens = 4096;
  s.sequence_length = 4096;
  auto ops_of = [](const std::vector<LayerOp>& ops) {
    std::vector<std::string> out;
    for (const auto& o : ops) out.push_back(o.table_op);
    return out;
  };
  CHECK(ops_of(attention_ops(mixtral, s)) == std::vector<std::string>{"rms_norm", "gemm", "rope", "rope", "attn_prefill", "gemm", "add"});
  CHECK(ops_of(attention_ops(qwen, s)).size() == 9);  // + per-head q and k norms
  CHECK(ops_of(attention_ops(dsv3, s)) ==
        std::vector<std::string>{"rms_norm", "gemm", "rms_norm", "rms_norm", "rope", "gemm", "rope", "gemm", "attn_prefill_mla", "gemm", "add"});
  s.decode = true;
  s.context = 8192;
  s.tokens = 64;
  const auto dec = attention_ops(dsv3, s);
  CHECK(ops_of(dec) == std::vector<std::string>{"rms_norm", "gemm", "rms_norm", "rms_norm", "rope", "gemm", "rope", "mla_absorb",
                                                "attn_decode_mla", "gemm", "add"});
  CHECK(dec[8].coords == std::vector<double>{64, 8192, 128});
  // Tensor parallelism divides the heads (and the projection widths) per device.
  s.tensor_parallel = 8;
  CHECK(attention_ops(dsv3, s)[8].coords == std::vector<double>{64, 8192, 16});
  const auto gqa = attention_ops(mixtral, s);
  CHECK(gqa[4].coords == std::vector<double>{64, 8192, 1, 4});  // 8 KV heads / 8, 4 query heads per KV head
  // The MoE-local ops, with the FP8 quantisation only where dispatch or experts are FP8.
  s.tensor_parallel = 1;
  CHECK(ops_of(moe_local_ops(dsv3, s)) == std::vector<std::string>{"rms_norm", "gemm", "topk_sigmoid_grouped", "permute", "unpermute", "add"});
  s.quantise_dispatch = true;
  CHECK(ops_of(moe_local_ops(mixtral, s)) == std::vector<std::string>{"rms_norm", "gemm", "topk_softmax", "permute", "quant_fp8", "unpermute", "add"});
}

TEST_CASE("op table transfer: the H100 takes the H200's ops plus the difference of the two rooflines", "[quick][calibration]") {
  DeviceCostOptions o;
  o.data_dir = data_dir();
  const DeviceCostModel h200(load_hardware_file(test::repo_path("hw_profiles/H200.json")), o);
  const DeviceCostModel h100(load_hardware_file(test::repo_path("hw_profiles/H100-SXM.json")), o);
  REQUIRE(h200.op_table());
  REQUIRE(h100.op_table());
  // A memory-bound op (a residual add of 16K x 8K bf16): slower by about the HBM bandwidth ratio.
  LayerOp add;
  add.roofline.bytes = 3.0 * 16384 * 8192 * 2;
  add.roofline.flops = 16384.0 * 8192;
  const auto a200 = h200.op("add", {16384, 8192}, add.roofline, false), a100 = h100.op("add", {16384, 8192}, add.roofline, false);
  CHECK(a100.source == "measured:add (from H200)");
  const HardwareProfile p100 = load_hardware_file(test::repo_path("hw_profiles/H100-SXM.json"));
  const HardwareProfile p200 = load_hardware_file(test::repo_path("hw_profiles/H200.json"));
  const double extra_us = RooflineModel(p100).estimate(add.roofline).time.us() - RooflineModel(p200).estimate(add.roofline).time.us();
  CHECK(extra_us > 0);
  CHECK(a100.gpu.us() == Approx(a200.gpu.us() + extra_us).epsilon(1e-6));
  // A launch-bound op (one row) costs the same on both.
  const OpCost tiny = table_op_work("rms_norm", {1, 128});
  CHECK(h100.op("rms_norm", {1, 128}, tiny, false).gpu.us() == Approx(h200.op("rms_norm", {1, 128}, tiny, false).gpu.us()).epsilon(0.02));
  // A compute-bound GEMM carries over (same die and clocks).
  const LayerOp g = gemm_op(LayerOpKind::Projection, LayerBlock::Attention, "g", 8192, 8192, 8192, Dtype::Bf16, 2, 2);
  CHECK(h100.op("gemm", g.coords, g.roofline, false).gpu.us() == Approx(h200.op("gemm", g.coords, g.roofline, false).gpu.us()).epsilon(0.01));
}
