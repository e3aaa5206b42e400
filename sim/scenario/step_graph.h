// One step's op graph: per pipeline stage, the forward layers of each micro-batch (and for
// training the backward layers, then gradient sync and the optimizer), on each device's compute
// stream and communication stream. Streams run their ops in issue order, so a schedule is the
// order in which its builder issues ops:
//  - none: communication is issued on the compute stream; nothing overlaps.
//  - two-microbatch (DeepSeek inference): micro-batches in pairs; each layer's ops of the two are
//    interleaved, so one micro-batch's dispatch/combine runs beside the other's compute.
//  - fwd-bwd-overlap (training, in the spirit of DualPipe, arXiv:2412.19437 Sec. 3.2.1): after the
//    first forward chunk, the forward chunk of micro-batch i is paired with the backward chunk of
//    micro-batch i-1, layer by layer (forward layer j with backward layer n-1-j), issued as
//    DualPipe overlaps them: backward combine beside forward attention, forward dispatch beside
//    backward experts, backward dispatch beside forward experts, forward combine beside backward
//    attention.
#pragma once
#include <cstdint>
#include <vector>

#include "sim/engine/stream_scheduler.h"
#include "sim/scenario/layer_pass.h"

namespace moesim {

// MoeLocal: a MoE layer's own compute around its all-to-all (router, top-k, permute, quantisation
// before dispatch; unpermute and residual after combine).
enum class OpKind : uint8_t { Attention, DenseFfn, SharedExpert, Experts, Dispatch, Combine, LmHead, GradSync, Optimizer, MoeLocal };
const char* op_kind_name(OpKind k);

struct OpInfo {
  int32_t device = -1;       // -1 for a collective
  int32_t stage = 0;
  int16_t layer = -1;        // -1: outside layers (gradient sync, optimizer); num_layers: LM head
  int16_t micro_batch = 0;
  OpKind kind = OpKind::Attention;
  bool backward = false;
};

// The step's ops on their streams, with what each op is.
struct StepGraph {
  StreamScheduler scheduler;
  std::vector<OpInfo> ops;                   // [op id]
  std::vector<int32_t> compute_stream;       // [device]
  std::vector<int32_t> comm_stream;          // [device]; the compute stream without overlap
};

// Ops outside the layer pass: gradient sync and optimizer (training; zero otherwise).
struct StepExtras {
  SimTime grad_sync, optimizer;
};

// Builds the graph of the scenario's schedule from the layer pass.
void build_step_graph(const Scenario& scenario, const LayerPassResult& pass, const StepExtras& extras, StepGraph& graph);

}  // namespace moesim
