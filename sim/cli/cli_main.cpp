#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "sim/cli/cli.h"
#include "sim/io/errors.h"

namespace moesim::cli {
namespace {

const char* kUsage =
    "usage: moesim COMMAND [OPTIONS]\n"
    "\n"
    "Simulates Mixture-of-Experts deployments: routing, expert placement, all-to-all, expert\n"
    "compute, capacity-factor drops and HBM, from JSON experiment files.\n"
    "\n"
    "commands:\n"
    "  run EXPERIMENT.json --out DIR   simulate one step and write DIR/report.json\n"
    "  sweep SWEEP.json --out DIR      run a grid or list of experiments (--jobs N, --shard I/N; sweep merge)\n"
    "  validate FILE...                check experiment, model, hardware and routing files\n"
    "  list models|hardware|placements|routing|topologies|a2a [--json]\n"
    "                                  show what is available, one line each\n"
    "  trace import|stats ...          import routing recorders' output; summarise a trace\n"
    "  comm a2a ...                    time one all-to-all dispatch and combine\n"
    "  cost experts ...                predicted time of one grouped expert block\n"
    "  cost layer ...                  predicted time of one whole transformer layer, op by op\n"
    "  cost op ...                     predicted time of one op of a layer (a GEMM, a norm, attention, ...)\n"
    "\n"
    "Run 'moesim COMMAND --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("moesim: error: expected a command (run, sweep, validate, list, trace, comm, cost); moesim --help describes them\n", stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (cmd == "--version") {
      fmt::print("moesim {}\n", MOESIM_VERSION);
      return 0;
    }
    if (cmd == "run") return run(args);
    if (cmd == "validate") return validate(args);
    if (cmd == "list") return list(args);
    if (cmd == "sweep") return sweep(args);
    if (cmd == "trace") return trace(args);
    if (cmd == "comm") return comm(args);
    if (cmd == "cost") return cost(args);
    fmt::print(stderr, "moesim: error: unknown command \"{}\" (run, sweep, validate, list, trace, comm, cost)\n", cmd);
    return 2;
  } catch (const InputError& e) {
    fmt::print(stderr, "moesim: error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "moesim: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& c : msg)
      if (c == '\n') c = ' ';
    fmt::print(stderr, "moesim: error: {}\n", msg);
    return 1;
  }
}

}  // namespace moesim::cli
