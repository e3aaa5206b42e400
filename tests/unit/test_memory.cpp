// The HBM ledger of a hand-computable layout.
#include <catch2/catch.hpp>

#include "sim/scenario/experiment_config.h"
#include "sim/moe/memory_model.h"
#include "sim/scenario/scenario.h"

using namespace moesim;

TEST_CASE("HBM ledger of a tiny model matches a hand count", "[quick][memory]") {
  // Tiny model: hidden 4, vocab 10 (untied), 2 layers both MoE, one attention head of dim 4
  // (GQA with 1 KV head), 4 experts of intermediate 2, top-2, no shared expert.
  // Parameters: embedding 40, lm_head 40, attention/layer q,k,v,o = 4 x 16 = 64,
  // router/layer 4x4 = 16, one expert 3x4x2 = 24, norms 2 per layer x 4 + final 4 = 20.
  // 2 devices, EP2: each holds 2 experts per layer = 2 x 2 x 24 = 96 expert parameters; the rest
  // is replicated: 40 + 40 + 2 x 64 + 2 x 16 + 20 = 260. bf16: (260 + 96) x 2 = 712 bytes.
  // KV cache (prefill, 8 tokens): 2 (K,V) x 1 head x 4 x 2 bytes = 16 bytes/token/layer
  //   x 2 layers x 8 tokens = 256 bytes.
  // Transient buffers at the peak (sim/moe/layer_liveness.h), with no routing replayed: every
  // token of the EP group arrives once, R = EP x T = 16 rows, C = R x min(top_k, local experts) =
  // 32 copies; bf16 dispatch and combine (2 bytes per element), pairwise all-to-all (no DeepEP
  // buffers). Residual T x H x 2 = 64. Per op:
  //   attention 64 + 2 x 64 + q,k,v,out 8 x 4 x 4 x 2 = 448;
  //   router 64 + 64 + logits 8 x 4 x 4 + top-k 8 x 2 x 8 = 384;
  //   dispatch 64 + 128 (top-k) + send 64 + receive 16 x (8 + 16) = 384 -> 640;
  //   expert gate/up 64 + input 32 x 8 + gate/up out 32 x 2 x 2 x 2 = 576 activations,
  //     the received rows 384 -> 960 (the peak);
  //   expert down 64 + 32 x 2 x 2 + 32 x 4 x 2 = 448; combine 64 + 16 x 8 + 8 x 8 = 256.
  // Workspace 1 KiB.
  Json exp = Json::parse(R"({
    "name": "tiny", "hardware": "H100-SXM",
    "model": {"name": "tiny", "hidden_size": 4, "num_layers": 2, "vocab_size": 10,
              "attention": {"type": "gqa", "num_heads": 1, "num_kv_heads": 1, "head_dim": 4},
              "moe": {"num_experts": 4, "top_k": 2, "expert_intermediate_size": 2}},
    "cluster": {"nodes": 1, "devices_per_node": 2},
    "parallel": {"expert_parallel": 2},
    "workload": {"phase": "prefill", "tokens_per_device": 8, "sequence_length": 8},
    "routing": {"source": "synthetic", "distribution": "uniform"},
    "moe": {"all_to_all": "pairwise"},
    "memory": {"workspace": "1 KiB"}
  })");
  const auto cfg = parse_experiment(JsonDocument::from_json(exp, "tiny.json"));
  const auto params = count_params(cfg.model);
  REQUIRE(params.total == 40 + 40 + 2 * 64 + 2 * 16 + 4 * 2 * 24 + 20);
  std::vector<LayerPlacement> placements(2);
  for (auto& p : placements) {
    p.rank_slots = {{0, 1}, {2, 3}};
    finalize_placement(p, 4);
  }
  const Scenario sc(cfg);
  const auto ledgers = device_memory(sc.memory_inputs(), params, sc.stages(), placements);
  REQUIRE(ledgers.size() == 2);
  for (const auto& h : ledgers) {
    CHECK(h.get(HbmCategory::Weights) == 712);
    CHECK(h.get(HbmCategory::RedundantExpertWeights) == 0);
    CHECK(h.get(HbmCategory::KvCache) == 256);
    CHECK(h.get(HbmCategory::Activations) == 576);
    CHECK(h.get(HbmCategory::A2aBuffers) == 384);
    CHECK(h.get(HbmCategory::Workspace) == 1024);
    CHECK(h.total() == 712 + 256 + 576 + 384 + 1024);
    CHECK(h.peak_op() == "layer 0: expert gate/up");
  }
}
