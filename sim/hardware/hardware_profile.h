// A device type's datasheet figures as read from hw_profiles/<name>.json: HBM, peak FLOP/s per
// dtype, links and NICs, latencies, and the achievable fractions that the roofline uses until
// calibrated tables exist. Sources are kept in the JSON file.
#pragma once
#include <map>
#include <string>

#include "sim/base/dtype.h"
#include "sim/engine/sim_time.h"
#include "sim/io/json_reader.h"

namespace moesim {

struct LinkSpec {
  std::string fabric;               // "nvswitch", "hccs", "roce", "infiniband"
  double bandwidth_Bps = 0;         // per direction, per device
  SimTime latency;                  // one-way, per transfer
  double efficiency = 1.0;          // achievable fraction of bandwidth_Bps
};

struct HardwareProfile {
  std::string name;
  std::string vendor;
  std::string description;
  double hbm_capacity_bytes = 0;
  double hbm_reserved_bytes = 0;    // runtime/context memory the framework cannot use
  double hbm_bandwidth_Bps = 0;
  std::map<std::string, double> peak_flops;   // dtype -> dense FLOP/s
  int64_t compute_units = 0;        // SMs (NVIDIA) or AI cores (Ascend)
  double matmul_efficiency = 1.0;   // achievable fraction of peak_flops for large GEMMs
  double memory_efficiency = 1.0;   // achievable fraction of hbm_bandwidth_Bps
  SimTime kernel_launch;            // fixed cost per kernel
  LinkSpec intra_node;              // scale-up fabric
  LinkSpec inter_node;              // NIC, per NIC
  SimTime collective_latency;       // fixed software cost of one collective
  double price_per_hour = 0;        // USD per device-hour, 0 when unknown
  std::string calibration_from;     // another profile whose measured tables this one uses
  std::string op_table_from;        // another profile whose per-op table (ops.json) this one transfers
  Json source_json;
  std::string file = "(inline)";    // where the profile was read, for errors about its keys
  std::string json_path = "$";      // the profile's JSON path in that file ("$", or "$.hardware" inline)

  double usable_hbm_bytes() const { return hbm_capacity_bytes - hbm_reserved_bytes; }
  // Peak dense FLOP/s for a dtype; falls back to bf16 for dtypes the device lacks.
  double flops_for(Dtype dtype) const;
};

HardwareProfile parse_hardware(const JsonValue& value);
HardwareProfile load_hardware_file(const std::string& path);

}  // namespace moesim
