// How the devices are parallelised: expert parallelism (EP groups of contiguous devices), expert
// tensor parallelism, attention tensor parallelism, pipeline stages (training), and the attention
// data parallelism they leave; and which pipeline stage holds each layer and device.
#pragma once
#include <cstdint>
#include <vector>

namespace moesim {

struct ParallelConfig {
  int64_t expert_parallel = 1;
  int64_t expert_tensor_parallel = 1;   // each expert's weights split over this many devices
  int64_t attention_tensor_parallel = 1;
  int64_t pipeline_stages = 1;
  int64_t attention_data_parallel = 1;  // derived: devices / (tp * pp)
};

struct StageLayout {
  int64_t stages = 1;
  int64_t devices_per_stage = 1;
  std::vector<int64_t> stage_of_layer;  // [model layer]
  int64_t stage_of_device(int64_t d) const { return d / devices_per_stage; }
};

// `stages` pipeline stages over `devices` devices and `num_layers` layers: earlier stages take one
// extra layer each while the layers do not divide evenly.
StageLayout make_stage_layout(int64_t stages, int64_t devices, int64_t num_layers);

}  // namespace moesim
