#include "sim/io/errors.h"

namespace moesim {

InputError input_error(const std::string& file, const std::string& path, const std::string& message) {
  std::string text = file;
  if (!path.empty()) text += ": " + path;
  text += ": " + message;
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return InputError(text);
}

}  // namespace moesim
