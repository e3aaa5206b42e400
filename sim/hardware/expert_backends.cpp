#include "sim/hardware/expert_backends.h"

namespace moesim {
namespace {

ExpertBackendRegistry build_registry() {
  ExpertBackendRegistry r;
  r.add({"auto",
         "the device's measured table: torch-grouped-mm where measured for the dtype, else cublas-grouped, extrapolated beyond "
         "the measured grid (the report says so); the roofline without a table",
         "what recent PyTorch MoE code runs (torch._grouped_mm); calibration/README.md", nullptr, {ExpertBackendKind::Auto, 0}});
  r.add({"roofline", "FLOPs and HBM bytes of the grouped SwiGLU block at the profile's achievable fractions of peak",
         "Williams, Waterman, Patterson, 'Roofline', CACM 2009; efficiencies in hw_profiles/*.json", nullptr,
         {ExpertBackendKind::Roofline, 0}});
  r.add({"torch-grouped-mm", "measured torch._grouped_mm gate/up + SiLU*mul + down over all local experts (bf16)",
         "PyTorch torch._grouped_mm; calibration/torch_grouped_mm.py", nullptr, {ExpertBackendKind::Measured, 0}});
  r.add({"cublas-grouped", "measured cuBLAS grouped GEMM SwiGLU block over all local experts (bf16, fp8)",
         "cuBLAS cublasGemmGroupedBatchedEx; calibration/bench_expert_block.cu", nullptr, {ExpertBackendKind::Measured, 1}});
  return r;
}

}  // namespace

const ExpertBackendRegistry& expert_backend_registry() {
  static const ExpertBackendRegistry registry = build_registry();
  return registry;
}

}  // namespace moesim
