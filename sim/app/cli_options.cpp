#include "sim/app/cli_options.h"

#include <fmt/format.h>

namespace po = boost::program_options;

namespace moesim::cli {

bool parse_options(const std::string& command, const std::vector<std::string>& args, const po::options_description& visible,
                   const char* positional, po::variables_map& vm) {
  po::options_description hidden;
  hidden.add_options()(positional, po::value<std::string>());
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description pos;
  pos.add(positional, 1);
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "moesim {}: error: {}\n", command, e.what());
    return false;
  }
  return true;
}

}  // namespace moesim::cli
