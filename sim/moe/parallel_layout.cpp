#include "sim/moe/parallel_layout.h"

namespace moesim {

StageLayout make_stage_layout(int64_t stages, int64_t devices, int64_t num_layers) {
  StageLayout s;
  s.stages = stages;
  s.devices_per_stage = devices / s.stages;
  const int64_t L = num_layers;
  s.stage_of_layer.resize(L);
  // Earlier stages take one extra layer each while L does not divide evenly.
  const int64_t base = L / s.stages, extra = L % s.stages;
  int64_t l = 0;
  for (int64_t st = 0; st < s.stages; ++st)
    for (int64_t i = 0; i < base + (st < extra ? 1 : 0); ++i) s.stage_of_layer[l++] = st;
  return s;
}

}  // namespace moesim
