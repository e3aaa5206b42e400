// Input errors: one line naming the file, the JSON path (or line/offset) and what was expected.
#pragma once
#include <stdexcept>
#include <string>

namespace moesim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "FILE: PATH: MESSAGE" with newlines flattened so that every error is one line.
InputError input_error(const std::string& file, const std::string& path, const std::string& message);

}  // namespace moesim
