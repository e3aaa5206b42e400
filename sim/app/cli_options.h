// Option parsing shared by the subcommands: the visible options plus one positional argument,
// parsed with Boost.Program_options; a parse error prints "moesim CMD: error: ..." and returns
// false (the caller exits 2).
#pragma once
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace moesim::cli {

bool parse_options(const std::string& command, const std::vector<std::string>& args,
                   const boost::program_options::options_description& visible, const char* positional,
                   boost::program_options::variables_map& vm);

}  // namespace moesim::cli
