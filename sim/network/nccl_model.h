// NCCL's collectives inside one scale-up domain, as its protocols make them: NCCL moves a call's
// bytes with one of three protocols, each with a fixed time and a share of the link it can use
// (LL: 8-byte stores that each carry a 4-byte flag, low latency, a small share; LL128: 128-byte
// lines with an 8-byte flag; Simple: whole buffers with a fence per step, the largest share and
// the longest fixed time), and an all-reduce on an NVSwitch fabric may reduce in the switch
// (NVLS: every rank sends and receives its bytes once instead of a ring's 2 (n - 1) / n). For each
// call NCCL picks the fastest; so does this model:
//   time = min over (algorithm, protocol) of  alpha + wire_bytes / (share x link bandwidth)
//   wire_bytes per rank: all-to-all (n - 1) / n x S; ring all-reduce 2 (n - 1) / n x S; NVLS S;
//   all-gather and reduce-scatter (n - 1) / n x S (S: the whole buffer, as nccl-tests counts it).
// Source of alpha and share: nccl-tests 2.29.2 on one node of 8 H100 (NVLink 450 GB/s per
// direction), all-to-all and all-reduce, 512 B to 512 MB, measured by NVIDIA aiconfigurator (rows
// in the reference data, not copied here): each protocol's line fitted over the sizes where it is
// the fastest (docs/comm-validation.md). All-gather and reduce-scatter take the all-to-all's
// protocols (same wire pattern, no measurement). Across nodes NCCL's time is the network model's
// (wire and profile latency), as before.
#pragma once
#include <cstdint>

#include "sim/engine/sim_time.h"

namespace moesim {

enum class NcclCollective { AllToAll, AllReduce, AllGather, ReduceScatter };

// One call of `bytes` (S above) over `ranks` ranks whose links carry link_Bps per direction
// (nominal); `nvls`: the fabric can reduce in the switch (NVSwitch). 0 for ranks <= 1.
SimTime nccl_time(NcclCollective collective, double bytes, int64_t ranks, double link_Bps, bool nvls);

// A transfer the network model timed at the link's own efficiency (`transfer` at `efficiency`),
// retimed as NCCL's all-to-all moves it: the fastest protocol's fixed time + the bytes at its share.
struct NcclRetime {
  SimTime time, alpha;  // the whole call, and its protocol's fixed time
};
NcclRetime nccl_alltoall_retime(SimTime transfer, double efficiency);

}  // namespace moesim
