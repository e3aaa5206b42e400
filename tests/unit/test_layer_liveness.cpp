// Peak HBM by liveness (sim/moe/layer_liveness.h): which buffers of a layer coexist under each
// schedule, how the all-to-all sizes what it receives, and DeepEP's own buffers.
#include <string>

#include <catch2/catch.hpp>

#include "sim/io/json_reader.h"
#include "sim/moe/layer_liveness.h"
#include "sim/moe/model_config.h"
#include "sim/network/comm_buffers.h"
#include "sim/scenario/experiment_config.h"
#include "sim/scenario/simulation.h"
#include "test_helpers.h"

using namespace moesim;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

Json run_report(const std::string& json) { return test::run_report(json, "liveness.json"); }

// The ledger of the device with the largest total.
Json max_device(const Json& report) { return report["hbm"]["devices"][report["hbm"]["max_device"].get<size_t>()]; }

// DeepSeek-V3 prefill on 4 x 8 H100, EP32, as in LMSYS's two-batch-overlap ablation.
std::string deepseek_prefill(int64_t tokens, int64_t micro_batches, const std::string& overlap, const std::string& routing) {
  return R"({"name": "v3", "model": "deepseek-v3", "hardware": "H100-SXM", "cluster": {"nodes": 4, "devices_per_node": 8, "nics_per_node": 8},
    "parallel": {"expert_parallel": 32},
    "workload": {"phase": "prefill", "tokens_per_device": )" + std::to_string(tokens) + R"(, "micro_batches": )" + std::to_string(micro_batches) +
         R"(, "sequence_length": 4096},
    "routing": )" + routing + R"(,
    "moe": {"dispatch_dtype": "fp8", "expert_compute_dtype": "fp8"},
    "schedule": {"overlap": ")" + overlap + R"(", "comm_compute_units": 24},
    "memory": {"weight_dtype": "fp8", "expert_weight_dtype": "fp8", "workspace": "2 GiB"},
    "runtime": {"framework": "sglang", "static_fraction": 0.85}})";
}

const std::string kUniform = R"({"source": "synthetic", "distribution": "uniform", "seed": 1})";

}  // namespace

TEST_CASE("liveness: DeepEP's buffers as its size hints give them", "[quick][memory]") {
  // Normal kernels, 8 ranks in one node, 24 SMs: 12 channels x 8 peers x ((2 x 1 + 3) x 4 bytes of
  // counters + 256 tokens x (7,168 x 2 + 2,056 metadata bytes)) = 402,851,712 bytes, no RDMA buffer.
  CHECK(deepep_normal_buffer_bytes(24, 8, 7168) == 402851712.0);
  // Across nodes (32 ranks) the NVLink chunk is 288 tokens and an RDMA buffer of 4 RDMA ranks is added.
  CHECK(deepep_normal_buffer_bytes(24, 32, 7168) > deepep_normal_buffer_bytes(24, 8, 7168));
  // Low latency, 128 tokens per rank, hidden 7,168, 256 experts: dispatch message 16 + 14,336,
  // combine message 56 x 4 + 14,336 = 14,560; send max(128 x 14,352, 256 x 128 x 14,560) and
  // receive 256 x 128 x 14,560 = 477,102,080 each, signals 1,024; two halves: 1,908,410,368.
  CHECK(deepep_low_latency_buffer_bytes(128, 7168, 256) == 1908410368.0);
}

TEST_CASE("liveness: two-batch overlap pairs one micro-batch's compute with the other's communication", "[quick][memory]") {
  const ModelConfig m = load_model_file(test::repo_path("models/deepseek-v3.json"));
  LayerLivenessInput in;
  in.model = &m;
  in.dispatch_elem_bytes = 1.0 + 4.0 / 128.0;  // fp8 with one fp32 scale per 128 values
  auto layer = [&](double tokens) {
    in.tokens = tokens;
    in.recv_rows = 6.0 * tokens;    // each token reaches about 6 of 32 ranks
    in.recv_copies = 8.0 * tokens;  // top-8, 8 of 256 experts per rank, 32 ranks
    return moe_layer_liveness(in);
  };
  const PeakLive one = peak_liveness(layer(16384), OverlapSchedule::None);
  const PeakLive pair = peak_liveness(layer(8192), OverlapSchedule::TwoMicroBatch);
  // MLA prefill decompresses keys and values for 128 heads: q, k, the up-projected latent and the
  // output are 16,384 x 98,880 x 2 bytes = 3.2 GB, above the expert GEMMs' 2.8 GB at 8 copies per token.
  CHECK(one.op == "attention");
  CHECK(pair.op.find(" + ") != std::string::npos);
  CHECK(pair.op.find("of the other micro-batch") != std::string::npos);
  // Both halves together hold less than one batch of both at its peak, more than one half alone.
  CHECK(pair.live.total() < one.live.total());
  CHECK(pair.live.total() > peak_liveness(layer(8192), OverlapSchedule::None).live.total());
  // Linear in tokens: one op of twice the tokens holds twice the bytes.
  CHECK(peak_liveness(layer(16384), OverlapSchedule::None).live.total() ==
        Approx(2.0 * peak_liveness(layer(8192), OverlapSchedule::None).live.total()));
}

TEST_CASE("liveness: a hot expert raises the peak of the device that holds it (DeepEP normal returns what arrives)", "[quick][memory]") {
  const Json even = max_device(run_report(deepseek_prefill(4096, 1, "none", kUniform)));
  const Json hot = max_device(run_report(deepseek_prefill(4096, 1, "none", R"({"source": "synthetic", "distribution": "zipf", "zipf_exponent": 1.2, "seed": 1})")));
  const double even_peak = even["categories"]["activations_bytes"].get<double>() + even["categories"]["a2a_buffers_bytes"].get<double>();
  const double hot_peak = hot["categories"]["activations_bytes"].get<double>() + hot["categories"]["a2a_buffers_bytes"].get<double>();
  CHECK(hot_peak > 1.5 * even_peak);
  CHECK(hot["peak_op"].get<std::string>().find("expert") != std::string::npos);
}

TEST_CASE("liveness: DeepEP low latency receives a fixed shape per expert, whatever the routing", "[quick][memory]") {
  auto decode = [](const std::string& routing) {
    return max_device(run_report(R"({"name": "v3d", "model": "deepseek-v3", "hardware": "H100-SXM", "cluster": {"nodes": 4, "devices_per_node": 8, "nics_per_node": 8},
      "parallel": {"expert_parallel": 32}, "workload": {"phase": "decode", "tokens_per_device": 64, "context_length": 4096},
      "routing": )" + routing + R"(, "moe": {"all_to_all": "deepep-low-latency", "dispatch_dtype": "fp8"},
      "memory": {"weight_dtype": "fp8", "expert_weight_dtype": "fp8"}})"));
  };
  const Json even = decode(kUniform);
  const Json hot = decode(R"({"source": "synthetic", "distribution": "zipf", "zipf_exponent": 1.2, "seed": 1})");
  CHECK(even["categories"]["a2a_buffers_bytes"] == hot["categories"]["a2a_buffers_bytes"]);
  // At least DeepEP's RDMA buffer for 128 tokens per rank and 256 experts.
  CHECK(even["categories"]["a2a_buffers_bytes"].get<double>() > deepep_low_latency_buffer_bytes(128, 7168, 256));
}

TEST_CASE("liveness: LMSYS's two-batch-overlap memory ablation (DeepSeek-V3 prefill, EP32 on H100)", "[quick][memory][validation]") {
  // Source: LMSYS, "Deploying DeepSeek with PD Disaggregation and Large-scale Expert Parallelism on
  // 96 H100 GPUs" (2025-05-05), TBO ablation: without two-batch overlap 8,192 tokens per device
  // run and 16,384 run out of memory; two micro-batches of 8,192 run, TBO lowering the peak. SGLang
  // with mem_fraction_static 0.85, the prefill flag of the published launch commands (sglang issue
  // #6017). moesim checks: 8,192 fits, and 2 x 8,192 overlapped peaks below 16,384 at once. It does
  // not reproduce the 16,384-token OOM: the tensors it models take 6.3 GiB of the 11.4 GiB SGLang
  // leaves outside its static pool (docs/memory.md).
  const Json r8 = run_report(deepseek_prefill(8192, 1, "none", kUniform));
  const Json r16 = run_report(deepseek_prefill(16384, 1, "none", kUniform));
  const Json tbo = run_report(deepseek_prefill(8192, 2, "two-microbatch", kUniform));
  CHECK(r8["hbm"]["fits"].get<bool>());
  CHECK(tbo["hbm"]["fits"].get<bool>());
  const double peak16 = r16["hbm"]["serving"]["dynamic_bytes"].get<double>();
  const double peak_tbo = tbo["hbm"]["serving"]["dynamic_bytes"].get<double>();
  CHECK(peak_tbo < peak16);
  CHECK(peak16 - peak_tbo > 0.1 * kGiB);
  CHECK(max_device(tbo)["peak_op"].get<std::string>().find("other micro-batch") != std::string::npos);
}

TEST_CASE("liveness: training keeps what 1F1B has in flight per stage, and full recomputation keeps each layer's input", "[quick][memory]") {
  // OLMoE-1B-7B, 16 layers, 2 stages of EP8: under 1F1B stage 0 holds min(M, 2) = 2 micro-batches'
  // saved activations and stage 1 one; both have 8 layers.
  auto training = [](const std::string& recompute) {
    return run_report(R"({"name": "t", "model": "olmoe-1b-7b", "hardware": "H100-SXM", "cluster": {"nodes": 2, "devices_per_node": 8, "nics_per_node": 8},
      "parallel": {"expert_parallel": 8, "pipeline_stages": 2},
      "workload": {"phase": "training", "tokens_per_device": 2048, "micro_batches": 8, "sequence_length": 4096},
      "routing": {"source": "synthetic", "distribution": "uniform", "seed": 1},
      "memory": {"recompute": ")" + recompute + R"("}})");
  };
  auto activations = [](const Json& r, int device) { return r["hbm"]["devices"][device]["categories"]["activations_bytes"].get<double>(); };
  const Json keep = training("none"), full = training("full");
  // Stage 0 (device 0) holds two micro-batches' saved sets, stage 1 (device 8) one, each plus the
  // transient peak of one op (the same on both stages).
  const double transient = activations(keep, 8) - (activations(keep, 0) - activations(keep, 8));
  CHECK(transient > 0);
  CHECK(transient < 0.5 * activations(keep, 8));
  // Full recomputation: 8 layers x 2,048 tokens x 2,048 hidden x 2 bytes per micro-batch, plus one
  // layer's saved set and the transient peak: a fraction of what is kept without it.
  CHECK(activations(full, 0) < 0.25 * activations(keep, 0));
  // (The transient peaks differ a little: each stage's layers are routed differently.)
  CHECK(activations(full, 0) - activations(full, 8) == Approx(8.0 * 2048 * 2048 * 2).epsilon(0.01));
  // Prefill refuses it, naming the key.
  CHECK_THAT(test::error_of([] {
               parse_experiment(JsonDocument::from_json(Json::parse(R"({"name": "p", "model": "olmoe-1b-7b", "hardware": "H100-SXM",
                 "cluster": {"nodes": 1, "devices_per_node": 8}, "parallel": {"expert_parallel": 8}, "workload": {"phase": "prefill", "tokens_per_device": 64, "sequence_length": 64},
                 "routing": {"source": "synthetic", "distribution": "uniform"}, "memory": {"recompute": "full"}})"), "p.json"));
             }),
             Catch::Contains("$.memory.recompute"));
}
