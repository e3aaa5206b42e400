// Units in configs and the validated JSON reader's messages.
#include <catch2/catch.hpp>

#include "sim/io/json_reader.h"
#include "sim/io/units.h"

using namespace moesim;

TEST_CASE("sizes, bandwidths, FLOP rates and durations parse with their units", "[quick][units]") {
  CHECK(units::parse_bytes("80 GiB") == 80.0 * 1073741824.0);
  CHECK(units::parse_bytes("512 MB") == 512e6);
  CHECK(units::parse_bytes("1.5KiB") == 1536.0);
  CHECK(units::parse_bytes("8 b") == 1.0);
  CHECK(units::parse_bandwidth("450 GB/s") == 450e9);
  CHECK(units::parse_bandwidth("400 Gb/s") == 50e9);
  CHECK(units::parse_bandwidth("3.35 TB/s") == Approx(3.35e12));
  CHECK(units::parse_flops_rate("989 TFLOP/s") == 989e12);
  CHECK(units::parse_duration("2 us").ps() == 2000000);
  CHECK(units::parse_duration("1.5 ms").ps() == 1500000000);
  CHECK(units::parse_duration("3 ns").ps() == 3000);
  CHECK(units::parse_duration("7 ps").ps() == 7);
}

TEST_CASE("values without units, with wrong units or negative are rejected", "[quick][units]") {
  CHECK_THROWS_AS(units::parse_bytes("80"), std::invalid_argument);
  CHECK_THROWS_AS(units::parse_bytes("80 GiX"), std::invalid_argument);
  CHECK_THROWS_AS(units::parse_bytes("-80 GiB"), std::invalid_argument);
  CHECK_THROWS_AS(units::parse_bandwidth("450 GB"), std::invalid_argument);
  CHECK_THROWS_AS(units::parse_duration("2 parsecs"), std::invalid_argument);
  CHECK_THROWS_AS(units::parse_flops_rate("fast"), std::invalid_argument);
  // Only decimal numbers: strtod alone reads "0x10" as 16, "inf" and "nan".
  CHECK_THROWS_AS(units::parse_bytes("0x10 B"), std::invalid_argument);
  CHECK_THROWS_AS(units::parse_bandwidth("inf GB/s"), std::invalid_argument);
  CHECK_THROWS_AS(units::parse_duration("nan us"), std::invalid_argument);
  CHECK(units::parse_bytes(".5 KiB") == 512.0);
  CHECK(units::parse_bytes("1e3 B") == 1000.0);
  // A size is whole bytes or more (or zero): half a byte is a mistake, not a size.
  CHECK_THROWS_WITH(units::parse_bytes("0.5 B"), "the size \"0.5 B\" is less than one byte");
  CHECK_THROWS_AS(units::parse_bytes("4 b"), std::invalid_argument);
  CHECK(units::parse_bytes("0 B") == 0.0);
}

TEST_CASE("reader errors name the file and JSON path and suggest the closest key", "[quick][units]") {
  auto doc = JsonDocument::from_json(Json::parse(R"({"outer": {"bandwdith": "1 GB/s", "count": -3}})"), "f.json");
  auto root = doc.root().as_object();
  auto outer = root.required("outer").as_object();
  try {
    outer.required("bandwidth");
    FAIL("expected an error");
  } catch (const InputError& e) {
    const std::string m = e.what();
    CHECK(m.find("f.json: $.outer.bandwdith") != std::string::npos);
    CHECK(m.find("did you mean \"bandwidth\"") != std::string::npos);
  }
  try {
    outer.required("count").as_positive_int();
    FAIL("expected an error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()) == "f.json: $.outer.count: expected a positive integer, got -3");
  }
  auto doc2 = JsonDocument::from_json(Json::parse(R"({"nodes": 2, "nodez": 3})"), "g.json");
  auto o = doc2.root().as_object();
  o.required("nodes");
  o.optional("devices");
  try {
    o.finish();
    FAIL("expected an error");
  } catch (const InputError& e) {
    const std::string m = e.what();
    CHECK(m.find("$.nodez: unknown key \"nodez\"; did you mean \"nodes\"?") != std::string::npos);
  }
}

TEST_CASE("set overrides create and replace fields, parsing JSON values", "[quick][units]") {
  Json j = Json::parse(R"({"a": {"b": 1}})");
  apply_override(j, "a.b=16", "x.json");
  apply_override(j, "a.c=\"text\"", "x.json");
  apply_override(j, "d.e=plain", "x.json");
  CHECK(j["a"]["b"] == 16);
  CHECK(j["a"]["c"] == "text");
  CHECK(j["d"]["e"] == "plain");
  CHECK_THROWS_AS(apply_override(j, "novalue", "x.json"), InputError);
  CHECK_THROWS_AS(apply_override(j, "a.b.c=1", "x.json"), InputError);
}
