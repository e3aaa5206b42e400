// Routing-data importers (sim/import/) and `moesim trace stats`: the real recordings in
// ../shared/traces (skipped when absent) import with the right shapes and totals; small
// synthetic files written here cover Megatron-Core, vLLM and TensorRT-LLM; each kind of bad
// input gives one InputError naming the line or byte offset and leaves no output behind.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>

#include <fmt/format.h>

#include "sim/io/errors.h"
#include "sim/import/importers.h"
#include "sim/import/trace_stats.h"
#include "sim/io/routing_trace.h"
#include "sim/io/json_reader.h"
#include "test_helpers.h"

namespace moesim::cli {
int trace(const std::vector<std::string>& args);
}

using namespace moesim;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temporary folder, removed again when the test ends.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name)
      : path((fs::temp_directory_path() / fmt::format("moesim_trace_import_{}_{}", ::getpid(), name)).string()) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  operator const std::string&() const { return path; }
};

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

Imported run_import(const std::string& format, const std::string& in, ImportOptions o = {}) {
  return importer_registry().find(format)->factory(in, o);
}

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

// numpy.save layout: magic, version 1.0, header length, dict padded to 64 bytes, data.
std::string npy(const std::string& descr, const std::vector<int64_t>& shape, const std::string& data) {
  std::string s = "(";
  for (auto d : shape) s += std::to_string(d) + ",";
  std::string h = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}), }}", descr, s);
  h.append(63 - (10 + h.size()) % 64, ' ');
  h += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + data;
}

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A safetensors file of 1-D tensors, in order.
std::string safetensors(const std::vector<std::tuple<std::string, std::string, std::string>>& tensors) {
  Json h = Json::object();
  std::string data;
  for (const auto& [name, dtype, bytes] : tensors) {
    const size_t item = dtype == "F64" || dtype == "I64" ? 8 : 4;
    h[name] = {{"dtype", dtype}, {"shape", {bytes.size() / item}}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  const std::string header = h.dump();
  std::string out;
  for (int b = 0; b < 8; ++b) out += static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * b)) & 0xff);
  return out + header + data;
}

using test::error_of;

std::string capture_stdout(const std::vector<std::string>& args) {
  std::stringstream out;
  auto* old = std::cout.rdbuf(out.rdbuf());
  try {
    cli::trace(args);
  } catch (...) {
    std::cout.rdbuf(old);
    throw;
  }
  std::cout.rdbuf(old);
  return out.str();
}

const char* kMixtralLine = R"({"dataset": "d", "problem_id": 0, "layer": 0, "experts": [1, 2], "gating_probs": [0.7, 0.3], "token_idx": 0})";

}  // namespace

TEST_CASE("real SGLang, OLMoE and Switch counts import with their totals", "[slow][trace]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  const TempDir scratch("counts");
  const std::string& tmp = scratch;
  ImportOptions ds;
  ds.model = "deepseek-v3";
  ds.top_k = 8;
  for (const auto& f : fs::directory_iterator(dir + "/deepseek-sglang-expert-counts")) {
    const auto c = run_import("sglang-counts", f.path().string(), ds).counts;
    REQUIRE(c.counts.size() == 61);
    CHECK(c.num_experts == 256);
    // Layers 0-2 are dense (all zero); every MoE layer sums to its tokens x 8. Some prefill runs
    // count slightly different token totals per layer (within 0.1%).
    const double first = sum(c.counts[3]);
    for (size_t l = 0; l < 61; ++l) {
      const double s = sum(c.counts[l]);
      CHECK(std::fmod(s, 8.0) == 0);
      if (l < 3) CHECK(s == 0);
      else CHECK(std::fabs(s - first) <= 1e-3 * first);
    }
  }
  for (const auto& f : fs::directory_iterator(dir + "/olmoe-routing-counts")) {
    const auto c = run_import("olmoe-counts", f.path().string()).counts;
    const Json raw = Json::parse(std::ifstream(f.path()));
    CHECK(c.layers == std::vector<int64_t>{0, 7, 15});
    CHECK(c.top_k == raw["top_k"].get<int64_t>());
    for (const auto& row : c.counts) CHECK(sum(row) == raw["tokens"].get<double>() * static_cast<double>(c.top_k));
    CHECK(c.pair_counts.size() == (f.path().filename() == "olmoe_tulu.json" ? 0u : 2u));
    // The written file reads back, pair counts included.
    const std::string out = tmp + "/" + f.path().filename().string();
    write_expert_counts(out, c);
    const auto back = load_expert_counts(out);
    CHECK(back.counts == c.counts);
    CHECK(back.pair_counts == c.pair_counts);
    CHECK(back.model == c.model);
  }
  const auto sw = run_import("switch-counts", dir + "/switch-base-128-counts/expert_statistics_3d.json").counts;
  CHECK(sw.layers == std::vector<int64_t>{1, 3, 5, 7, 9, 11});
  CHECK(sw.top_k == 1);
  CHECK(sw.num_experts == 128);
  for (const auto& row : sw.counts) CHECK(sum(row) == 206866.0);
}

TEST_CASE("real Mixtral JSONL imports 32 layers of top-2 with weights, and trace stats reads it", "[slow][trace]") {
  const std::string dir = test::shared_traces_dir();
  if (dir.empty()) {
    WARN("skipped: ../shared/traces not found beside the checkout");
    return;
  }
  const TempDir scratch("mixtral");
  const std::string& tmp = scratch;
  // Complete tokens per file (all tokens with --missing sample): counted from the files.
  const std::vector<std::tuple<std::string, int64_t, int64_t>> files = {
      {"gsm8k_2_routing.jsonl", 244, 247}, {"humaneval_2_routing.jsonl", 333, 338}, {"routing_raw.jsonl", 94, 218}};
  for (const auto& [name, complete, all] : files) {
    const std::string in = dir + "/mixtral-8x7b-token-routing/" + name;
    const auto r = run_import("mixtral-jsonl", in);
    CHECK(r.trace.header.layers.size() == 32);
    CHECK(r.trace.header.top_k == 2);
    CHECK(r.trace.header.tokens == complete);
    CHECK(r.trace.weights.size() == r.trace.ids.size());
    ImportOptions sample;
    sample.missing = "sample";
    const auto s = run_import("mixtral-jsonl", in, sample);
    CHECK(s.trace.header.tokens == all);
    CHECK(s.trace.header.source.find("--missing sample") != std::string::npos);
    CHECK(run_import("mixtral-jsonl", in, sample).trace.ids == s.trace.ids);  // seeded
  }
  const std::string out = tmp + "/gsm8k.npz";
  CHECK(cli::trace({"import", "--from", "mixtral-jsonl", "--quiet", dir + "/mixtral-8x7b-token-routing/gsm8k_2_routing.jsonl", out}) == 0);
  const RoutingTrace t(out);
  CHECK(t.header().tokens == 244);
  CHECK(t.has_weights());
  const Json j = Json::parse(capture_stdout({"stats", out, "--json", "--placement", "contiguous", "--devices", "4"}));
  REQUIRE(j["layers"].size() == 32);
  for (const auto& l : j["layers"]) {
    for (const char* key : {"layer", "tokens", "assignments", "load_max_over_mean", "device_load_max_over_mean"}) CHECK(l.contains(key));
    CHECK(l["tokens"] == 244);
    CHECK(l["assignments"] == 488);
    CHECK(l["load_max_over_mean"].get<double>() >= 1.0);
    CHECK(l["device_load_max_over_mean"].get<double>() >= 1.0);
    CHECK(l["device_load_max_over_mean"].get<double>() <= l["load_max_over_mean"].get<double>() + 1e-9);
  }
  CHECK(j["layers"][1]["affinity"]["mi_bits"].get<double>() >= 0.0);
  CHECK(j["device_load_max_over_mean"].get<double>() >= 1.0);
}

TEST_CASE("SGLang logical_count: one row per model layer, counts kept as they are", "[quick][trace][entry:sglang-counts]") {
  // 3 model layers of 4 experts, layer 0 dense (all zero); top-2, so each row sums to tokens x 2:
  // 0, 8 (4 tokens), 4 (2 tokens).
  const TempDir scratch("sglang");
  const std::string& dir = scratch;
  write(dir + "/c.json", R"({"logical_count": [[0, 0, 0, 0], [3, 1, 2, 2], [1, 1, 1, 1]]})");
  ImportOptions o;
  o.model = "m";
  o.top_k = 2;
  const auto r = run_import("sglang-counts", dir + "/c.json", o);
  CHECK_FALSE(r.is_trace);
  const auto& c = r.counts;
  CHECK(c.format == "moesim-counts");
  CHECK(c.model == "m");
  CHECK(c.num_experts == 4);
  CHECK(c.top_k == 2);
  CHECK(c.layers == std::vector<int64_t>{0, 1, 2});
  CHECK(c.counts == std::vector<std::vector<double>>{{0, 0, 0, 0}, {3, 1, 2, 2}, {1, 1, 1, 1}});
  o.model.clear();
  CHECK(error_of([&] { run_import("sglang-counts", dir + "/c.json", o); }).find("--model") != std::string::npos);
}

TEST_CASE("data that names no model: the one bundled model of its shape, and its MoE layer ids", "[quick][trace][entry:sglang-counts]") {
  // Shapes as the CLI passes them (bundled models): two of 4 experts, one of 3 layers (layer 0
  // dense) and one of 5; another of 8 experts and 3 layers.
  ImportOptions o;
  o.models = {{"three", 3, 4, {1, 2}}, {"five", 5, 4, {1, 2, 3, 4}}, {"wide", 3, 8, {0, 1, 2}}};
  const TempDir scratch("shape");
  const std::string& dir = scratch;
  write(dir + "/all.json", R"({"logical_count": [[0, 0, 0, 0], [3, 1, 2, 2], [1, 1, 1, 1]]})");
  write(dir + "/moe.json", R"({"logical_count": [[3, 1, 2, 2], [1, 1, 1, 1]]})");
  write(dir + "/odd.json", R"({"logical_count": [[3, 1, 2, 2], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]})");
  // Every layer of "three": the rows are model layers 0..2.
  auto r = run_import("sglang-counts", dir + "/all.json", o);
  CHECK(r.counts.model == "three");
  CHECK(r.counts.layers == std::vector<int64_t>{0, 1, 2});
  // Only the MoE layers of "three": labelled with the model's MoE layer ids, not 0..1.
  r = run_import("sglang-counts", dir + "/moe.json", o);
  CHECK(r.counts.model == "three");
  CHECK(r.counts.layers == std::vector<int64_t>{1, 2});
  // No bundled model has 4 experts and 6 layers: --model is asked for, naming the shape.
  CHECK_THAT(error_of([&] { run_import("sglang-counts", dir + "/odd.json", o); }), Catch::Contains("--model NAME is required") && Catch::Contains("4 experts, 6 layers"));
  // --model of a bundled model whose shape does not fit the data is refused.
  o.model = "five";
  CHECK_THAT(error_of([&] { run_import("sglang-counts", dir + "/moe.json", o); }), Catch::Contains("--model five does not fit it"));
  // Two bundled models of the shape: --model is asked for, naming both.
  o.model.clear();
  o.models.push_back({"three-bis", 3, 4, {1, 2}});
  CHECK_THAT(error_of([&] { run_import("sglang-counts", dir + "/all.json", o); }), Catch::Contains("three, three-bis"));
}

TEST_CASE("the documented SGLang counts import names DeepSeek-V3 by itself", "[slow][trace]") {
  const std::string file = test::shared_path("traces/deepseek-sglang-expert-counts/prefill_in1024.json");
  if (file.empty()) {
    WARN("skipped: ../shared/traces/deepseek-sglang-expert-counts not found beside the checkout");
    return;
  }
  ImportOptions o;
  o.models = {{"deepseek-v3", 61, 256, {}}};
  for (int64_t l = 3; l < 61; ++l) o.models[0].moe_layers.push_back(l);
  const auto r = run_import("sglang-counts", file, o);
  CHECK(r.counts.model == "deepseek-v3");
  CHECK(r.counts.layers.size() == 61);
}

TEST_CASE("Mixtral JSONL: tokens in first-seen order, a token missing a layer dropped", "[quick][trace][entry:mixtral-jsonl]") {
  // Layers 0 and 1, top-2 of 8. Tokens 0 and 1 have both layers; token 2 only layer 0, so
  // --missing drop keeps 2 of 3 tokens. The trace is [layer][token][k].
  const TempDir scratch("mixtral-small");
  const std::string& dir = scratch;
  auto rec = [](int token, int layer, const char* experts, const char* probs) {
    return fmt::format(R"({{"dataset": "d", "problem_id": 0, "layer": {}, "experts": {}, "gating_probs": {}, "token_idx": {}}})", layer,
                       experts, probs, token) + "\n";
  };
  write(dir + "/r.jsonl", rec(0, 0, "[1, 2]", "[0.75, 0.25]") + rec(0, 1, "[3, 4]", "[0.5, 0.5]") + rec(1, 0, "[5, 6]", "[0.625, 0.375]") +
                              rec(2, 0, "[1, 3]", "[0.5, 0.5]") + rec(1, 1, "[7, 0]", "[0.875, 0.125]"));
  ImportOptions o;
  o.layers = {0, 1};
  const auto r = run_import("mixtral-jsonl", dir + "/r.jsonl", o);
  REQUIRE(r.is_trace);
  const auto& h = r.trace.header;
  CHECK(h.model == "mixtral-8x7b");
  CHECK(h.num_experts == 8);
  CHECK(h.top_k == 2);
  CHECK(h.layers == std::vector<int64_t>{0, 1});
  CHECK(h.tokens == 2);
  CHECK(r.trace.ids == std::vector<int32_t>{1, 2, 5, 6, /**/ 3, 4, 7, 0});
  CHECK(r.trace.weights == std::vector<float>{0.75f, 0.25f, 0.625f, 0.375f, /**/ 0.5f, 0.5f, 0.875f, 0.125f});
  CHECK(h.source.find("1 of 3 tokens dropped") != std::string::npos);
}

TEST_CASE("OLMoE routing counts: real layer ids, sums checked, pair counts kept", "[quick][trace][entry:olmoe-counts]") {
  // 3 tokens, top-2, 4 experts, layers 0 and 7: every count row sums to 3 x 2 = 6, every top-1
  // row to 3, the 0->7 pair matrix to 6.
  const TempDir scratch("olmoe");
  const std::string& dir = scratch;
  const std::string doc = R"({"model": "olmoe-1b-7b", "num_experts": 4, "top_k": 2, "layers": [0, 7], "tokens": 3,
    "expert_counts": [[2, 2, 1, 1], [3, 0, 3, 0]], "expert_counts_top1": [[1, 1, 1, 0], [2, 0, 1, 0]],
    "crosslayer_pair_counts": {"0->7": [[1, 0, 1, 0], [1, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0]]}})";
  write(dir + "/o.json", doc);
  const auto c = run_import("olmoe-counts", dir + "/o.json").counts;
  CHECK(c.model == "olmoe-1b-7b");
  CHECK(c.num_experts == 4);
  CHECK(c.top_k == 2);
  CHECK(c.layers == std::vector<int64_t>{0, 7});
  CHECK(c.counts == std::vector<std::vector<double>>{{2, 2, 1, 1}, {3, 0, 3, 0}});
  REQUIRE(c.pair_counts.count("0->7") == 1);
  CHECK(c.pair_counts.at("0->7") == std::vector<std::vector<double>>{{1, 0, 1, 0}, {1, 0, 1, 0}, {0, 0, 1, 0}, {1, 0, 0, 0}});
  std::string bad = doc;
  bad.replace(bad.find("[3, 0, 3, 0]"), 12, "[3, 0, 2, 0]");
  write(dir + "/bad.json", bad);
  CHECK(error_of([&] { run_import("olmoe-counts", dir + "/bad.json"); }).find("counts sum to 5 but tokens x top_k is 6") != std::string::npos);
}

TEST_CASE("Switch expert usage: absent experts count 0, top-1", "[quick][trace][entry:switch-counts]") {
  // 4 experts, layers 1 and 3, 8 tokens each: layer 1 {0: 5, 2: 3}, layer 3 {1: 4, 3: 4}.
  const TempDir scratch("switch");
  const std::string& dir = scratch;
  write(dir + "/s.json", R"({"num_experts": 4, "layers": [1, 3], "expert_usage_by_layer": {"1": {"0": 5, "2": 3}, "3": {"1": 4, "3": 4}},
    "layer_analysis": {"1": {"total_usage": 8}}})");
  const auto c = run_import("switch-counts", dir + "/s.json").counts;
  CHECK(c.model == "switch-base-4");
  CHECK(c.top_k == 1);
  CHECK(c.layers == std::vector<int64_t>{1, 3});
  CHECK(c.counts == std::vector<std::vector<double>>{{5, 0, 3, 0}, {0, 4, 0, 4}});
  CHECK(c.source.find("8 tokens") != std::string::npos);
  write(dir + "/t.json", R"({"num_experts": 4, "layers": [1, 3], "expert_usage_by_layer": {"1": {"0": 5, "2": 3}, "3": {"1": 4, "3": 3}}})");
  CHECK(error_of([&] { run_import("switch-counts", dir + "/t.json"); }).find("not counts of the same tokens") != std::string::npos);
}

TEST_CASE("Megatron-Core router traces: a rank file or a folder of them", "[quick][trace][entry:megatron-jsonl]") {
  const TempDir scratch("megatron");
  const std::string& dir = scratch;
  auto rec = [](int step, int rank, int layer, const std::string& rows, int n, const std::string& block = "decoder") {
    return fmt::format(R"({{"step": {}, "stage": "pre_dispatch", "block": "{}", "layer": {}, "rank": {}, "num_tokens": {}, "topk": 2, "top_indices": {}}})",
                       step, block, layer, rank, n, rows) + "\n";
  };
  write(dir + "/router_trace_rank0.jsonl", rec(0, 0, 1, "[[0,1],[2,3]]", 2) + rec(0, 0, 3, "[[4,5],[6,7]]", 2) +
                                                rec(0, 0, 1, "[[1,2]]", 1, "mtp") + rec(1, 0, 1, "[[7,6]]", 1) + rec(1, 0, 3, "[[5,4]]", 1));
  write(dir + "/router_trace_rank1.jsonl", rec(0, 1, 1, "[[3,0]]", 1) + rec(0, 1, 3, "[[1,0]]", 1));
  ImportOptions o;
  o.model = "test-moe";
  o.experts = 8;
  const auto r = run_import("megatron-jsonl", dir, o);
  const auto& h = r.trace.header;
  CHECK(h.layers == std::vector<int64_t>{1, 3});
  CHECK(h.tokens == 4);  // (step 0, rank 0): 2, (0, 1): 1, (1, 0): 1
  CHECK(h.top_k == 2);
  CHECK(r.trace.ids == std::vector<int32_t>{0, 1, 2, 3, 3, 0, 7, 6, 4, 5, 6, 7, 1, 0, 5, 4});
  CHECK(r.trace.weights.empty());
  CHECK(run_import("megatron-jsonl", dir + "/router_trace_rank1.jsonl", o).trace.header.tokens == 1);
  // Against a bundled model of MoE layers 1 and 3 the records fit; against one of 4 MoE layers
  // (1, 3, 5, 7) they are one pipeline stage's worth and are refused; a layer the model does not
  // route is refused too.
  o.models = {{"test-moe", 8, 8, {1, 3}}};
  CHECK(run_import("megatron-jsonl", dir, o).trace.header.layers == std::vector<int64_t>{1, 3});
  o.models = {{"test-moe", 8, 8, {1, 3, 5, 7}}};
  CHECK_THAT(error_of([&] { run_import("megatron-jsonl", dir, o); }), Catch::Contains("record 2 MoE layers") && Catch::Contains("pipeline-parallel"));
  o.models = {{"test-moe", 8, 8, {3, 5}}};
  CHECK_THAT(error_of([&] { run_import("megatron-jsonl", dir, o); }), Catch::Contains("recorded layer 1 is not an MoE layer of test-moe"));
  o.experts = 0;
  CHECK(error_of([&] { run_import("megatron-jsonl", dir, o); }).find("--experts") != std::string::npos);
}

TEST_CASE("vLLM routed experts from .npy and JSON", "[quick][trace][entry:vllm]") {
  const TempDir scratch("vllm");
  const std::string& dir = scratch;
  // [tokens 3, moe_layers 2, top_k 2]
  const std::vector<int16_t> v = {0, 1, 2, 3, /**/ 4, 5, 6, 7, /**/ 1, 0, 3, 2};
  write(dir + "/r.npy", npy("<i2", {3, 2, 2}, bytes_of(v)));
  write(dir + "/r.json", R"({"routed_experts": [[[0,1],[2,3]], [[4,5],[6,7]], [[1,0],[3,2]]]})");
  ImportOptions o;
  o.model = "m";
  o.experts = 8;
  o.layers = {3, 4};
  for (const char* f : {"/r.npy", "/r.json"}) {
    const auto r = run_import("vllm", dir + f, o);
    CHECK(r.trace.header.layers == std::vector<int64_t>{3, 4});
    CHECK(r.trace.header.tokens == 3);
    CHECK(r.trace.ids == std::vector<int32_t>{0, 1, 4, 5, 1, 0, 2, 3, 6, 7, 3, 2});  // [layer][token][k]
  }
}

TEST_CASE("TensorRT-LLM expert statistics sum over iterations and ranks", "[quick][trace][entry:trtllm]") {
  const TempDir scratch("trtllm");
  const std::string& dir = scratch;
  write(dir + "/meta_info.json", R"({"num_experts": 4, "num_experts_per_token": 2})");
  write(dir + "/rank0.safetensors", safetensors({{"10_3", "I32", bytes_of(std::vector<int32_t>{1, 2, 3, 0})},
                                                 {"11_3", "I32", bytes_of(std::vector<int32_t>{2, 0, 0, 0})},
                                                 {"10_5", "I32", bytes_of(std::vector<int32_t>{0, 0, 1, 1})}}));
  write(dir + "/rank1.safetensors", safetensors({{"10_3", "I32", bytes_of(std::vector<int32_t>{0, 0, 1, 1})}}));
  write(dir + "/rank0_raw.safetensors", "ignored");
  ImportOptions o;
  o.model = "m";
  const auto c = run_import("trtllm", dir, o).counts;
  CHECK(c.layers == std::vector<int64_t>{3, 5});
  CHECK(c.top_k == 2);
  CHECK(c.counts == std::vector<std::vector<double>>{{3, 2, 4, 1}, {0, 0, 1, 1}});
}

TEST_CASE("bad inputs give one InputError naming the line or byte offset, and no output", "[quick][trace]") {
  const TempDir scratch("bad");
  const std::string& dir = scratch;
  const std::string line = kMixtralLine;
  auto mixtral = [&](const std::string& name, const std::string& second, ImportOptions o = {}) {
    write(dir + "/" + name, line + "\n" + second + "\n");
    const std::string out = dir + "/" + name + ".npz";
    const std::string msg = error_of([&] { write_imported(out, run_import("mixtral-jsonl", dir + "/" + name, o)); });
    CHECK_FALSE(fs::exists(out));
    INFO(msg);
    CHECK(msg.find(": line 2") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    return msg;
  };
  auto second = [&](const std::string& from, const std::string& to) {
    std::string s = line;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  CHECK(mixtral("id.jsonl", second("[1, 2]", "[1, 8]")).find("out of range") != std::string::npos);
  CHECK(mixtral("topk.jsonl", second("[1, 2]", "[1, 2, 3]")).find("top-k mismatch") != std::string::npos);
  CHECK(mixtral("layer.jsonl", second("\"layer\": 0", "\"layer\": 32")).find("wrong layer count") != std::string::npos);
  CHECK(mixtral("nan.jsonl", second("0.3", "NaN")).find("NaN") != std::string::npos);
  CHECK(mixtral("neg.jsonl", second("0.3", "-0.3")).find("gating_probs[1]") != std::string::npos);
  CHECK(mixtral("dup.jsonl", line).find("duplicate") != std::string::npos);
  CHECK(mixtral("dupkey.jsonl", second("\"layer\": 0", "\"layer\": 0, \"layer\": 1")).find("$.layer: duplicate key") != std::string::npos);
  write(dir + "/cut.jsonl", line + "\n" + line.substr(0, 40));
  CHECK(error_of([&] { run_import("mixtral-jsonl", dir + "/cut.jsonl"); }).find("line 2: invalid JSON") != std::string::npos);

  // trace stats bounds redundant slots as experiments do: at most E x (devices - 1).
  CHECK(error_of([&] { cli::trace({"stats", test::repo_path("tests/bad_inputs/good_mixtral.npz"), "--placement", "eplb-global", "--devices", "8", "--redundant", "64"}); })
            .find("--redundant: 64 is more than one copy of each of the 8 experts on every one of 8 devices allows (56)") != std::string::npos);

  // The CLI leaves no OUT behind either.
  CHECK_THROWS_AS(cli::trace({"import", "--from", "mixtral-jsonl", dir + "/cut.jsonl", dir + "/cli.npz"}), InputError);
  CHECK_FALSE(fs::exists(dir + "/cli.npz"));

  ImportOptions m;
  m.model = "m";
  m.experts = 8;
  write(dir + "/mt.jsonl", R"({"step": 0, "layer": 0, "rank": 0, "num_tokens": 1, "topk": 2, "top_indices": [[0, 9]]})");
  CHECK(error_of([&] { run_import("megatron-jsonl", dir + "/mt.jsonl", m); }).find("line 1: $.top_indices[0][1]: expert id 9 out of range") != std::string::npos);
  write(dir + "/mt2.jsonl", std::string(R"({"step": 0, "layer": 0, "rank": 0, "num_tokens": 1, "topk": 2, "top_indices": [[0, 1]]})") + "\n" +
                                R"({"step": 0, "layer": 1, "rank": 0, "num_tokens": 1, "topk": 1, "top_indices": [[0]]})");
  CHECK(error_of([&] { run_import("megatron-jsonl", dir + "/mt2.jsonl", m); }).find("line 2: $.topk: top-k mismatch") != std::string::npos);

  const std::vector<int16_t> ids = {0, 1, 2, 9};
  const std::string id_npy = npy("<i2", {2, 1, 2}, bytes_of(ids));
  const size_t data_at = id_npy.size() - 8;
  write(dir + "/id.npy", id_npy);
  CHECK(error_of([&] { run_import("vllm", dir + "/id.npy", m); }).find(fmt::format("[1][0][1] (byte offset {})", data_at + 6)) != std::string::npos);
  write(dir + "/cut.npy", id_npy.substr(0, data_at + 4));
  CHECK(error_of([&] { run_import("vllm", dir + "/cut.npy", m); }).find(fmt::format("byte offset {}: data truncated", data_at)) != std::string::npos);
  ImportOptions three = m;
  three.layers = {0, 1, 2};
  write(dir + "/ok.npy", npy("<i2", {2, 1, 2}, bytes_of(std::vector<int16_t>{0, 1, 2, 3})));
  CHECK(error_of([&] { run_import("vllm", dir + "/ok.npy", three); }).find("wrong layer count") != std::string::npos);
  ImportOptions k3 = m;
  k3.top_k = 3;
  CHECK(error_of([&] { run_import("vllm", dir + "/ok.npy", k3); }).find("top-k mismatch") != std::string::npos);
  write(dir + "/k.json", R"({"routed_experts": [[[0, 1]], [[2, 3, 4]]]})");
  CHECK(error_of([&] { run_import("vllm", dir + "/k.json", m); }).find("$.routed_experts[1][0]: top-k mismatch") != std::string::npos);

  const std::string st = dir + "/st";
  fs::create_directories(st);
  write(st + "/meta_info.json", R"({"num_experts": 2, "num_experts_per_token": 1})");
  write(st + "/rank0.safetensors", safetensors({{"0_0", "F32", bytes_of(std::vector<float>{1.0f, std::nanf("")})}}));
  ImportOptions t;
  t.model = "m";
  CHECK(error_of([&] { run_import("trtllm", st, t); }).find("0_0[1] (byte offset") != std::string::npos);
  write(st + "/rank0.safetensors", safetensors({{"0_0", "I32", bytes_of(std::vector<int32_t>{1, 1})}}).substr(0, 40));
  CHECK(error_of([&] { run_import("trtllm", st, t); }).find("byte offset") != std::string::npos);
  write(st + "/rank0.safetensors", safetensors({{"0_0", "I32", bytes_of(std::vector<int32_t>{1, 1, 1})}}));
  CHECK(error_of([&] { run_import("trtllm", st, t); }).find("expected [2] (num_experts)") != std::string::npos);

  write(dir + "/neg.json", R"({"logical_count": [[1, 2], [3, -1]]})");
  CHECK(error_of([&] { run_import("sglang-counts", dir + "/neg.json", t); }).find("$.logical_count[1][1]") != std::string::npos);
  write(dir + "/cut.json", R"({"logical_count": [[1, 2], [3, )");
  CHECK(error_of([&] { run_import("sglang-counts", dir + "/cut.json", t); }).find("line 1 column") != std::string::npos);
  write(dir + "/steps.json", R"({"logical_count": [[[1, 2, 0, 0], [3, 1, 0, 0]], [[1, 0, 0, 0], [0, 2, 0, 0]]]})");
  ImportOptions k2 = t;
  k2.top_k = 2;
  CHECK(run_import("sglang-counts", dir + "/steps.json", k2).counts.counts == std::vector<std::vector<double>>{{2, 2, 0, 0}, {3, 3, 0, 0}});
  k2.top_k = 3;
  CHECK(error_of([&] { run_import("sglang-counts", dir + "/steps.json", k2); }).find("top-k mismatch") != std::string::npos);
}

TEST_CASE("SGLang's CSV recorder dump: ranks of one dump summed, sparse rows, the model's MoE layer ids", "[quick][trace][entry:sglang-counts]") {
  const TempDir scratch("sglang-csv");
  const std::string& dir = scratch;
  write(dir + "/expert_distribution_rank0_timestamp17.0.csv", "layer_id,expert_id,count\n1,0,3\n1,3,1\n2,2,2\n");
  write(dir + "/expert_distribution_rank1_timestamp17.0.csv", "layer_id,expert_id,count\n1,0,1\n2,1,4\n");
  write(dir + "/expert_distribution_rank0_timestamp99.0.csv", "layer_id,expert_id,count\n1,0,100\n");  // another dump
  ImportOptions o;
  o.models = {{"three", 3, 4, {1, 2}}};
  const auto r = run_import("sglang-counts", dir + "/expert_distribution_rank0_timestamp17.0.csv", o);
  CHECK(r.counts.model == "three");
  CHECK(r.counts.layers == std::vector<int64_t>{1, 2});
  CHECK(r.counts.counts == std::vector<std::vector<double>>{{4, 0, 0, 1}, {0, 4, 2, 0}});
  write(dir + "/bad_rank0_timestamp1.0.csv", "layer_id,expert_id,count\n1,0,3\n1,x,1\n");
  CHECK_THAT(error_of([&] { run_import("sglang-counts", dir + "/bad_rank0_timestamp1.0.csv", o); }), Catch::Contains("line 3") && Catch::Contains("three whole numbers"));
}

TEST_CASE("trace stats: affinity of a trace declaring up to 2^20 experts, counted by pairs, and loads beyond 1 GiB refused", "[quick][trace]") {
  // Layer 1's top-1 is a function of layer 0's: every token's successor is the most frequent one
  // (hit 1). The same pairs under 2,048 experts (counted in a table) and 65,536 (sorted pairs:
  // a 65,536^2 table would need 32 GiB) give the same affinity to the bit.
  const test::TempDir dir("stats-experts");
  auto stats_of = [&](int32_t experts) {
    TraceData t;
    t.header.model = "wide";
    t.header.source = "hand-made";
    t.header.num_experts = experts;
    t.header.top_k = 1;
    t.header.tokens = 600;
    t.header.layers = {0, 1};
    for (int layer = 0; layer < 2; ++layer)
      for (int32_t tok = 0; tok < 600; ++tok) {
        const int32_t a = (tok * 7) % 40;  // 40 experts in use at layer 0
        t.ids.push_back(layer == 0 ? a : (a * 13 + 5) % 32 * (experts / 64));
      }
    const std::string path = fmt::format("{}/t{}.npz", dir.path, experts);
    write_routing_trace(path, t);
    return routing_stats(path);
  };
  const RoutingStats small = stats_of(2048), wide = stats_of(65536);
  REQUIRE(small.layers.size() == 2);
  REQUIRE(wide.layers.size() == 2);
  REQUIRE(small.layers[1].affinity);
  REQUIRE(wide.layers[1].affinity);
  const LayerAffinity& a = *small.layers[1].affinity;
  const LayerAffinity& b = *wide.layers[1].affinity;
  CHECK(a.hit == 1.0);
  CHECK(b.hit == a.hit);
  CHECK(b.mi_bits == a.mi_bits);
  CHECK(b.hit_independent == a.hit_independent);
  CHECK(a.mi_bits > 4.0);  // 32 successors, nearly uniform: close to log2(32) = 5 bits
  // A 3 KB file declaring 2^20 experts over 200 layers would need 1.6 GiB of per-expert loads:
  // refused before any is allocated.
  TraceData huge;
  huge.header.model = "wide";
  huge.header.source = "hand-made";
  huge.header.num_experts = 1 << 20;
  huge.header.top_k = 1;
  huge.header.tokens = 1;
  for (int64_t l = 0; l < 200; ++l) huge.header.layers.push_back(l), huge.ids.push_back(static_cast<int32_t>(l));
  const std::string huge_path = dir.path + "/huge.npz";
  write_routing_trace(huge_path, huge);
  CHECK(test::error_of([&] { routing_stats(huge_path); }) ==
        huge_path + ": meta: num_experts 1048576 x 200 stored layers needs 1.6 GiB of per-expert loads; trace stats keeps at most 1 GiB (2^27 loads)");
}
