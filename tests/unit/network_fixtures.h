// The made-up device of the network tests, whose closed-form answers are easy to check by hand:
// 100 GB/s scale-up per direction with 2 us latency, 400 Gb/s (50 GB/s) NICs with 4 us latency,
// all efficiencies 1.
#pragma once
#include "sim/hardware/hardware_profile.h"

namespace moesim::test {

inline HardwareProfile made_up_hw() {
  HardwareProfile h;
  h.intra_node = {"nvswitch", 100e9, SimTime::from_us(2), 1.0};
  h.inter_node = {"infiniband", 50e9, SimTime::from_us(4), 1.0};
  return h;
}

}  // namespace moesim::test
