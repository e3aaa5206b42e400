// A collective's traffic as a list of transfers: bytes from a source device to a destination.
#pragma once
#include <cstdint>

namespace moesim {

struct Transfer {
  int32_t src = 0;
  int32_t dst = 0;
  double bytes = 0;
};

}  // namespace moesim
