// The command-line interface: one function per subcommand, each parsing its own options with
// Boost.Program_options and returning the process exit code.
#pragma once
#include <string>
#include <vector>

namespace moesim::cli {

int run(const std::vector<std::string>& args);
int validate(const std::vector<std::string>& args);
int list(const std::vector<std::string>& args);
int sweep(const std::vector<std::string>& args);
int trace(const std::vector<std::string>& args);
int trace_synth(const std::vector<std::string>& args);
int comm(const std::vector<std::string>& args);
int cost(const std::vector<std::string>& args);
int cost_layer(const std::vector<std::string>& args);  // `moesim cost layer` (cli_cost_layer.cpp)
int cost_op(const std::vector<std::string>& args);     // `moesim cost op` (cli_cost_op.cpp)
int main(int argc, char** argv);

}  // namespace moesim::cli
