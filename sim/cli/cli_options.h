// Option parsing shared by the subcommands: the visible options, options left out of --help
// (`hidden`, may be null) and a positional argument (one string, or with positional_count -1 any
// number of them as a vector of strings), parsed with Boost.Program_options; a parse error prints
// "moesim: error: CMD: ..." and returns false (the caller exits 2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "sim/hardware/hardware_profile.h"
#include "sim/moe/model_config.h"

namespace moesim::cli {

bool parse_options(const std::string& command, const std::vector<std::string>& args,
                   const boost::program_options::options_description& visible, const char* positional,
                   boost::program_options::variables_map& vm, const boost::program_options::options_description* hidden = nullptr,
                   int positional_count = 1);

// The --seed flag of the commands that draw random numbers (comm a2a, trace import), declared as a
// signed integer so that "-1" is refused here rather than wrapped to 2^64 - 1 by an unsigned parse;
// at most 2^53, the range an experiment's routing.seed accepts. InputError naming --seed.
uint64_t seed_from_flag(int64_t seed);

// The model or hardware profile a flag names (a bundled name or a path, as in experiments): a
// name with no file is an InputError naming the flag and the closest bundled name.
ModelConfig model_from_flag(const std::string& value, const std::string& flag);
HardwareProfile hardware_from_flag(const std::string& value, const std::string& flag);

}  // namespace moesim::cli
