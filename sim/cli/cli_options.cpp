#include "sim/cli/cli_options.h"

#include <filesystem>

#include <fmt/format.h>

#include "sim/io/errors.h"
#include "sim/io/json_reader.h"
#include "sim/scenario/data_paths.h"

namespace po = boost::program_options;

namespace moesim::cli {

bool parse_options(const std::string& command, const std::vector<std::string>& args, const po::options_description& visible,
                   const char* positional, po::variables_map& vm, const po::options_description* hidden, int positional_count) {
  po::options_description positional_option;
  if (positional_count == 1)
    positional_option.add_options()(positional, po::value<std::string>());
  else
    positional_option.add_options()(positional, po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(visible).add(positional_option);
  if (hidden) all.add(*hidden);
  po::positional_options_description pos;
  pos.add(positional, positional_count);
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "moesim: error: {}: {}\n", command, e.what());
    return false;
  }
  return true;
}

uint64_t seed_from_flag(int64_t seed) {
  if (seed < 0 || seed > (int64_t{1} << 53)) throw InputError(fmt::format("--seed: expected an integer in [0, 2^53], got {}", seed));
  return static_cast<uint64_t>(seed);
}

namespace {

std::string existing_data_file(const std::string& value, const std::string& flag, const char* folder, const char* kind) {
  const std::string path = resolve_data_file(value, folder, "");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(fmt::format("{}: {}", flag, missing_data_file(value, path, folder, kind)));
  return path;
}

}  // namespace

ModelConfig model_from_flag(const std::string& value, const std::string& flag) {
  return load_model_file(existing_data_file(value, flag, "models", "model"));
}

HardwareProfile hardware_from_flag(const std::string& value, const std::string& flag) {
  return load_hardware_file(existing_data_file(value, flag, "hw_profiles", "hardware profile"));
}

}  // namespace moesim::cli
