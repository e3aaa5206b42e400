// `moesim cost op`: the time of one op of a layer on one device, from the device's per-op table
// (hw_profiles/<gpu>.ops.json, or the one it transfers; the roofline when there is none), as
// `moesim run` costs it: `--op gemm --coords M,N,K`, the coordinates being the op's axes in the
// table's order (`moesim cost op --hardware H200 --list` prints them). With --batch, one query per
// line ("OP c1,c2,...") and one JSON line out per query.
#include <iostream>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/cli/cli_options.h"
#include "sim/cli/cli_cost_common.h"
#include "sim/hardware/device_cost.h"
#include "sim/io/errors.h"
#include "sim/moe/layer_ops.h"
#include "sim/scenario/data_paths.h"

namespace po = boost::program_options;

namespace moesim::cli {
namespace {

std::vector<double> coords_of(const std::string& text, const std::string& where) {
  const auto whole = parse_whole_list(text, where, 1, int64_t{1} << 40, "whole counts from 1 to 2^40");
  return {whole.begin(), whole.end()};
}

Json answer(const DeviceCostModel& cost, const std::string& op, const std::vector<double>& coords) {
  const OpCost work = table_op_work(op, coords);
  const OpTiming t = cost.op(op, coords, work, false);
  return Json{{"hardware", cost.hardware().name}, {"op", op}, {"coords", coords}, {"gpu_us", t.gpu.us()}, {"host_us", t.host.us()},
              {"source", t.source}, {"extrapolated", t.extrapolated}};
}

Json list_ops(const DeviceCostModel& cost) {
  Json out = Json::object();
  const OpTable* t = cost.op_table();
  if (!t) return out;
  for (const auto& [name, g] : t->ops) {
    Json axes = Json::array();
    for (const auto& a : g.axes) axes.push_back({{"name", a.name}, {"min", a.values.front()}, {"max", a.values.back()}});
    out[name] = {{"kernel", g.kernel}, {"axes", axes}};
  }
  return out;
}

}  // namespace

int cost_op(const std::vector<std::string>& args) {
  po::options_description opts("moesim cost op --hardware NAME --op OP --coords c1,c2,...");
  opts.add_options()("help,h", "show this help")("hardware", po::value<std::string>(), "hardware profile name or path (hw_profiles/)")(
      "op", po::value<std::string>(), "table op: gemm, gemm_fp8, rms_norm, add, silu_mul, rope, quant_fp8, topk_softmax, "
                                     "topk_sigmoid_grouped, permute, unpermute, attn_prefill, attn_prefill_mla, attn_decode, "
                                     "attn_decode_mla, mla_absorb")(
      "coords", po::value<std::string>(), "the op's coordinates, its table axes in order (--list)")(
      "list", "print the device's table ops, their kernels and axes")(
      "batch", po::value<std::string>(), "file of queries, one per line: OP c1,c2,... (- = stdin)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "moesim: error: cost op: {}\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\nPrints {\"gpu_us\", \"host_us\", \"source\", \"extrapolated\", ...} as JSON. Coordinates are whole counts.\n"
                         "--batch: a refused line prints {\"error\"} and makes the exit status 1.\n";
    return 0;
  }
  if (!vm.count("hardware") || (!vm.count("list") && !vm.count("batch") && (!vm.count("op") || !vm.count("coords")))) {
    fmt::print(stderr, "moesim: error: cost op: needs --hardware and --op with --coords, --list or --batch\n");
    return 2;
  }
  DeviceCostOptions o;
  o.data_dir = data_dir();
  const DeviceCostModel cost(hardware_from_flag(vm["hardware"].as<std::string>(), "--hardware"), o);
  if (vm.count("list")) {
    fmt::print("{}\n", list_ops(cost).dump(1));
    return 0;
  }
  if (!vm.count("batch")) {
    fmt::print("{}\n", answer(cost, vm["op"].as<std::string>(), coords_of(vm["coords"].as<std::string>(), "--coords")).dump());
    return 0;
  }
  return run_batch_lines(vm["batch"].as<std::string>(), [&](const std::string& line, const std::string&) {
    std::istringstream ls(line);
    std::string op, coords, extra;
    if (!(ls >> op >> coords) || (ls >> extra)) throw InputError("expected OP c1,c2,... (two fields)");
    return answer(cost, op, coords_of(coords, "coordinates"));
  });
}

}  // namespace moesim::cli
