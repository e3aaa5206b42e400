// The bundled hardware profiles (hw_profiles/*.json) load, are physically sane, name a source
// for every figure, and a misspelt key is reported with its JSON path and the right spelling.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "sim/hardware/hardware_profile.h"
#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "test_helpers.h"

namespace fs = std::filesystem;
using moesim::HardwareProfile;
using moesim::InputError;
using moesim::Json;
using moesim::JsonDocument;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// hw_profiles/*.json, sorted, without the measured tables *.calibration.json and *.ops.json (as
// bundled_names() lists them).
std::vector<fs::path> profile_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(moesim::test::repo_path("hw_profiles"))) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || !ends_with(name, ".json") || ends_with(name, ".calibration.json") || ends_with(name, ".ops.json")) continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A complete, valid profile to mutate in the error tests.
Json valid_profile() {
  return Json::parse(R"({
    "name": "test-gpu", "vendor": "test",
    "hbm_capacity": "80 GiB", "hbm_reserved": "4 GiB", "hbm_bandwidth": "3.35 TB/s",
    "peak_flops": {"bf16": "989 TFLOP/s", "fp8": "1979 TFLOP/s"},
    "compute_units": 132,
    "efficiency": {"matmul": 0.77, "memory": 0.9, "source": "test"},
    "kernel_launch": "4 us",
    "intra_node": {"fabric": "nvswitch", "bandwidth": "450 GB/s", "latency": "2 us", "efficiency": 0.8},
    "inter_node": {"fabric": "infiniband", "bandwidth": "400 Gb/s", "latency": "3 us"},
    "collective_latency": "15 us"
  })");
}

std::string parse_error(const Json& j) {
  const auto doc = JsonDocument::from_json(j, "bad.json");
  try {
    moesim::parse_hardware(doc.root());
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("expected moesim::InputError for " << j.dump());
  return {};
}

}  // namespace

TEST_CASE("the bundled hardware profiles load and are sane", "[quick][hardware]") {
  const auto files = profile_files();
  std::vector<std::string> stems;
  for (const auto& f : files) stems.push_back(f.stem().string());
  for (const char* expected : {"H100-SXM", "H200", "H800", "H20", "Ascend-910B"})
    CHECK(std::find(stems.begin(), stems.end(), expected) != stems.end());

  for (const auto& file : files) {
    INFO("profile " << file.string());
    HardwareProfile h;
    REQUIRE_NOTHROW(h = moesim::load_hardware_file(file.string()));

    CHECK(h.name == file.stem().string());
    CHECK_FALSE(h.vendor.empty());

    // Memory: usable = capacity - reserved must be positive and most of the card.
    CHECK(h.hbm_capacity_bytes > h.hbm_reserved_bytes);
    CHECK(h.hbm_reserved_bytes >= 0);
    CHECK(h.usable_hbm_bytes() > 0.8 * h.hbm_capacity_bytes);
    CHECK(h.hbm_bandwidth_Bps > 0);

    // Compute: bf16 is required; fp8 (where the device has it) is never slower than bf16;
    // fp32 (where given) is never faster.
    REQUIRE(h.peak_flops.count("bf16") == 1);
    const double bf16 = h.peak_flops.at("bf16");
    CHECK(bf16 > 1e12);
    if (h.peak_flops.count("fp8")) CHECK(h.peak_flops.at("fp8") >= bf16);
    if (h.peak_flops.count("fp32")) CHECK(h.peak_flops.at("fp32") <= bf16);
    CHECK(h.flops_for(moesim::Dtype::Bf16) == bf16);
    CHECK(h.compute_units > 0);

    // Achievable fractions.
    CHECK(h.matmul_efficiency > 0);
    CHECK(h.matmul_efficiency <= 1.0);
    CHECK(h.memory_efficiency > 0);
    CHECK(h.memory_efficiency <= 1.0);
    CHECK(h.intra_node.efficiency <= 1.0);
    CHECK(h.inter_node.efficiency <= 1.0);

    // Links: HBM > scale-up fabric > one NIC.
    CHECK(h.hbm_bandwidth_Bps > h.intra_node.bandwidth_Bps);
    CHECK(h.intra_node.bandwidth_Bps > h.inter_node.bandwidth_Bps);
    CHECK(h.inter_node.bandwidth_Bps > 0);

    // Provenance: every figure the file sets names a source.
    const Json& j = h.source_json;
    REQUIRE(j.contains("sources"));
    const Json& src = j.at("sources");
    std::vector<std::string> figures;
    for (const char* k : {"hbm_capacity", "hbm_reserved", "hbm_bandwidth", "compute_units", "kernel_launch",
                          "collective_latency", "price_per_hour"})
      if (j.contains(k)) figures.emplace_back(k);
    for (auto it = j.at("peak_flops").begin(); it != j.at("peak_flops").end(); ++it)
      figures.push_back("peak_flops." + it.key());
    for (const char* link : {"intra_node", "inter_node"})
      for (auto it = j.at(link).begin(); it != j.at(link).end(); ++it)
        if (it.key() != "fabric") figures.push_back(std::string(link) + "." + it.key());
    for (const auto& f : figures) {
      INFO("figure " << f);
      CHECK(src.contains(f));
    }
    CHECK_FALSE(j.at("efficiency").at("source").get<std::string>().empty());
  }
}

TEST_CASE("H100-SXM profile carries the datasheet and measured figures", "[quick][hardware]") {
  const auto h = moesim::load_hardware_file(moesim::test::repo_path("hw_profiles/H100-SXM.json"));
  CHECK(h.peak_flops.at("bf16") == Approx(989.4e12));
  CHECK(h.peak_flops.at("fp8") == Approx(2 * 989.4e12).epsilon(1e-3));
  CHECK(h.hbm_bandwidth_Bps == Approx(3.35e12));
  CHECK(h.hbm_capacity_bytes == Approx(81559.0 * 1024 * 1024));
  CHECK(h.intra_node.bandwidth_Bps == Approx(450e9));
  CHECK(h.inter_node.bandwidth_Bps == Approx(50e9));  // 400 Gb/s
  CHECK(h.compute_units == 132);
  // The efficiency comes from the committed measurement file.
  CHECK(fs::exists(moesim::test::repo_path("hw_profiles/measurements/roofline_H100-SXM.json")));
  CHECK(h.source_json.at("efficiency").at("source").get<std::string>().find("roofline_H100-SXM.json") !=
        std::string::npos);
}

TEST_CASE("a misspelt hardware key names its JSON path and the right spelling", "[quick][hardware]") {
  SECTION("misspelt required key: hbm_bandwith") {
    Json j = valid_profile();
    j["hbm_bandwith"] = j["hbm_bandwidth"];
    j.erase("hbm_bandwidth");
    const std::string msg = parse_error(j);
    INFO(msg);
    CHECK(msg.find("bad.json") != std::string::npos);
    CHECK(msg.find("$") != std::string::npos);
    CHECK(msg.find("\"hbm_bandwidth\"") != std::string::npos);
  }
  SECTION("misspelt optional key: hbm_reservd") {
    Json j = valid_profile();
    j["hbm_reservd"] = j["hbm_reserved"];
    j.erase("hbm_reserved");
    const std::string msg = parse_error(j);
    INFO(msg);
    CHECK(msg.find("bad.json: $.hbm_reservd") != std::string::npos);
    CHECK(msg.find("did you mean \"hbm_reserved\"") != std::string::npos);
  }
  SECTION("misspelt nested key: intra_node.efficency") {
    Json j = valid_profile();
    j["intra_node"]["efficency"] = 0.8;
    j["intra_node"].erase("efficiency");
    const std::string msg = parse_error(j);
    INFO(msg);
    CHECK(msg.find("$.intra_node.efficency") != std::string::npos);
    CHECK(msg.find("did you mean \"efficiency\"") != std::string::npos);
  }
  SECTION("misspelt fabric value") {
    Json j = valid_profile();
    j["inter_node"]["fabric"] = "infiniband2";
    const std::string msg = parse_error(j);
    INFO(msg);
    CHECK(msg.find("$.inter_node.fabric") != std::string::npos);
    CHECK(msg.find("did you mean \"infiniband\"") != std::string::npos);
  }
  SECTION("sparsity-style dtype key is rejected") {
    Json j = valid_profile();
    j["peak_flops"]["bf16_sparse"] = "1979 TFLOP/s";
    const std::string msg = parse_error(j);
    INFO(msg);
    CHECK(msg.find("$.peak_flops") != std::string::npos);
    CHECK(msg.find("bf16_sparse") != std::string::npos);
  }
  SECTION("the valid base profile parses") {
    const auto doc = JsonDocument::from_json(valid_profile(), "good.json");
    CHECK_NOTHROW(moesim::parse_hardware(doc.root()));
  }
}
