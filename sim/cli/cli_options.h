// Option parsing shared by the subcommands: the visible options, options left out of --help
// (`hidden`, may be null) and a positional argument (one string, or with positional_count -1 any
// number of them as a vector of strings), parsed with Boost.Program_options; a parse error prints
// "moesim CMD: error: ..." and returns false (the caller exits 2).
#pragma once
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace moesim::cli {

bool parse_options(const std::string& command, const std::vector<std::string>& args,
                   const boost::program_options::options_description& visible, const char* positional,
                   boost::program_options::variables_map& vm, const boost::program_options::options_description* hidden = nullptr,
                   int positional_count = 1);

}  // namespace moesim::cli
