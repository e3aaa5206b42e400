// A device's per-op measured table, hw_profiles/<name>.ops.json (format moesim-op-table-1), as
// written by calibration/assemble_ops.py from calibration/bench_layer_ops.py run on that GPU: for
// every op of a transformer layer ("gemm", "rms_norm", "attn_prefill", ...: the list and each op's
// kernel are in calibration/layer_ops.py) a full grid over the op's shape axes of
//   graph_us  GPU time inside a CUDA graph (L2 flushed before the op),
//   eager_us  the op launched alone from Python onto an idle GPU,
//   host_us   the host's time to issue it in eager mode,
// with null where a point was not measured (above the benchmark's size cap).
//
// Lookup (time(op, coordinates)): multilinear interpolation of log(time) in log(coordinate)
// between the bracketing grid values of every axis, exact at measured points. Both a kernel's work
// (FLOPs, bytes) and its time in either pure regime are products of powers of the axes, which
// log-log interpolation reproduces exactly; it only has to bridge efficiency changes between grid
// values (the grids are dense where tiles and waves change: M steps of 1.33-1.5x from 64 to 2048).
// Past an axis's last value the time grows as (x / last)^p with the axis's extrapolation_exponent
// p (1: a saturated kernel is linear in its work; 2: the causal sequence length of prefill
// attention); below its first value it stays at the first value's time (launch-bound). Where a
// bracketing cell is unmeasured, the first axis is lowered to the largest grid value whose cells
// all exist and the time scaled from there by the same power law. Either way the result says it
// was extrapolated. The host time is never scaled (issuing a kernel does not grow with its work):
// outside the grid it is the nearest measured one.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/io/json_reader.h"

namespace moesim {

struct OpAxis {
  std::string name;
  std::vector<double> values;  // strictly increasing, > 0
  double extrapolation_exponent = 1.0;
};

struct OpGrid {
  std::string kernel;
  std::vector<OpAxis> axes;
  std::vector<double> graph_us, eager_us, host_us;  // row-major, last axis fastest; NaN = not measured
};

struct OpLookup {
  double graph_us = 0;  // GPU time in a graph
  double host_us = 0;   // host issue time in eager mode
  bool extrapolated = false;
};

class OpTable {
 public:
  std::string file;      // where it was read from
  std::string hardware;  // the hw_profiles name it was measured on
  double graph_launch_us = 0;
  // Median over the measured points of eager_us - max(graph_us, host_us), at least 0: how long
  // after the host's last call an eagerly launched op ends on the GPU (event and launch latency).
  double eager_latency_us = 0;
  std::string gpu_name, date_utc, git_commit;  // provenance of the first part
  std::map<std::string, OpGrid> ops;

  const OpGrid* find(const std::string& op) const;
  // Throws InputError when `coords` does not have one positive value per axis of `op`;
  // nullopt when the table has no such op.
  std::optional<OpLookup> lookup(const std::string& op, const std::vector<double>& coords) const;
};

OpTable parse_op_table(const JsonValue& root);
// The table of a file, shared: parsed once per unchanged file and never copied (parse_once).
std::shared_ptr<const OpTable> load_op_table_file(const std::string& path);

}  // namespace moesim
