// One SwiGLU expert block over E experts on one GPU, the project's `cublas-grouped` backend:
//   gate/up GEMM  Y1[c_i, 2F] = X_i[c_i, H] . Wgu_i^T     (Wgu_i stored [2F, H], nn.Linear layout)
//   activation    A[t, :] = silu(Y1[t, :F]) * Y1[t, F:]    (one kernel over all tokens)
//   down GEMM     Y2[c_i, H] = A_i[c_i, F] . Wd_i^T        (Wd_i stored [H, F])
// Tokens of expert i are rows offset_i .. offset_i + c_i of X (grouped by expert, as after a
// dispatch). Experts with no tokens are left out of the launch.
//   bf16: each GEMM is ONE cublasGemmGroupedBatchedEx call (group_count = active experts,
//         group_size 1, bf16 in/out, fp32 compute); the activation writes bf16.
//   fp8:  each GEMM is a loop of cublasLtMatmul calls, one per active expert, e4m3 x e4m3 with
//         per-tensor scales (A/B scale pointers), fp32 accumulate with fast accumulation, bf16
//         output; the activation writes e4m3 scaled by 1/a_scale for the down GEMM. (cuBLASLt in
//         CUDA 13.0 has no grouped fp8 GEMM, and cublasGemmGroupedBatchedEx takes no fp8.)
// The three stages are captured into one CUDA graph per input rotation and the graph is replayed.
#pragma once
#include <map>
#include <tuple>

#include "common.cuh"

namespace cal {

template <typename OutT>
__global__ void swiglu_kernel(const bf16* __restrict__ in, OutT* __restrict__ out, int64_t rows, int64_t F, float out_scale_inv) {
  const int64_t vpr = F / 8, total = rows * vpr;
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < total; v += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = v / vpr, c = (v % vpr) * 8;
    const uint4 gv = *reinterpret_cast<const uint4*>(in + r * 2 * F + c);
    const uint4 uv = *reinterpret_cast<const uint4*>(in + r * 2 * F + F + c);
    const bf16* g = reinterpret_cast<const bf16*>(&gv);
    const bf16* u = reinterpret_cast<const bf16*>(&uv);
    OutT o[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float gf = __bfloat162float(g[j]);
      o[j] = OutT(gf / (1.0f + __expf(-gf)) * __bfloat162float(u[j]) * out_scale_inv);
    }
    if constexpr (sizeof(OutT) == 2)
      *reinterpret_cast<uint4*>(out + r * F + c) = *reinterpret_cast<const uint4*>(o);
    else
      *reinterpret_cast<uint2*>(out + r * F + c) = *reinterpret_cast<const uint2*>(o);
  }
}

struct ExpertWeights {
  int64_t H = 0, F = 0, E = 0;
  bool is_fp8 = false;
  void* wgu = nullptr;  // [E][2F][H]
  void* wd = nullptr;   // [E][H][F]
  size_t elem() const { return is_fp8 ? 1 : 2; }
  void* gu(int64_t e) const { return static_cast<char*>(wgu) + e * 2 * F * H * elem(); }
  void* d(int64_t e) const { return static_cast<char*>(wd) + e * H * F * elem(); }
  size_t bytes() const { return size_t(E) * 3 * H * F * elem(); }
  void allocate(int64_t h, int64_t f, int64_t e, bool fp8_, uint64_t seed) {
    release();
    H = h, F = f, E = e, is_fp8 = fp8_;
    CK(cudaMalloc(&wgu, size_t(E) * 2 * F * H * elem()));
    CK(cudaMalloc(&wd, size_t(E) * H * F * elem()));
    const float sg = 1.0f / std::sqrt(float(H)) * (is_fp8 ? 8.0f : 1.0f), sd = 1.0f / std::sqrt(float(F)) * (is_fp8 ? 8.0f : 1.0f);
    if (is_fp8) {
      fill_random(static_cast<fp8*>(wgu), size_t(E) * 2 * F * H, seed, sg);
      fill_random(static_cast<fp8*>(wd), size_t(E) * H * F, seed + 1, sd);
    } else {
      fill_random(static_cast<bf16*>(wgu), size_t(E) * 2 * F * H, seed, sg);
      fill_random(static_cast<bf16*>(wd), size_t(E) * H * F, seed + 1, sd);
    }
    CK(cudaDeviceSynchronize());
  }
  void release() {
    if (wgu) CK(cudaFree(wgu));
    if (wd) CK(cudaFree(wd));
    wgu = wd = nullptr;
  }
};

// Activation buffers for `rotations` input sets (X rotates; Y1, A, Y2 are shared).
struct Activations {
  size_t cap = 0;
  void* base = nullptr;
  void* x[4] = {};
  bf16* y1 = nullptr;
  void* a = nullptr;
  bf16* y2 = nullptr;
  static size_t need(int64_t T, int64_t H, int64_t F, bool is_fp8, int rot) {
    const size_t e = is_fp8 ? 1 : 2;
    auto al = [](size_t b) { return (b + 255) / 256 * 256; };
    return rot * al(T * H * e) + al(T * 2 * F * 2) + al(T * F * e) + al(T * H * 2);
  }
  void prepare(int64_t T, int64_t H, int64_t F, bool is_fp8, int rot, uint64_t seed) {
    const size_t n = need(T, H, F, is_fp8, rot);
    if (n > cap) {
      if (base) CK(cudaFree(base));
      CK(cudaMalloc(&base, n));
      cap = n;
    }
    const size_t e = is_fp8 ? 1 : 2;
    auto al = [](size_t b) { return (b + 255) / 256 * 256; };
    char* p = static_cast<char*>(base);
    for (int r = 0; r < rot; ++r) {
      x[r] = p;
      if (is_fp8)
        fill_random(static_cast<fp8*>(x[r]), T * H, seed + r, 1.0f);
      else
        fill_random(static_cast<bf16*>(x[r]), T * H, seed + r, 1.0f);
      p += al(T * H * e);
    }
    y1 = reinterpret_cast<bf16*>(p), p += al(T * 2 * F * 2);
    a = p, p += al(T * F * e);
    y2 = reinterpret_cast<bf16*>(p);
  }
  void release() {
    if (base) CK(cudaFree(base));
    base = nullptr, cap = 0;
  }
};

// cuBLAS / cuBLASLt state shared by all blocks.
struct GemmContext {
  cublasHandle_t blas{};
  cublasLtHandle_t lt{};
  void* workspace = nullptr;
  size_t ws_bytes = size_t(64) << 20;
  float* one = nullptr;  // device 1.0f: the per-tensor fp8 scales
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::tuple<cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                                             cublasLtMatrixLayout_t, cublasLtMatmulAlgo_t>>
      fp8_plans;

  void init(cudaStream_t s) {
    CKB(cublasCreate(&blas));
    CKB(cublasLtCreate(&lt));
    CK(cudaMalloc(&workspace, ws_bytes));
    CKB(cublasSetWorkspace(blas, workspace, ws_bytes));
    CKB(cublasSetStream(blas, s));
    CK(cudaMalloc(&one, sizeof(float)));
    const float h = 1.0f;
    CK(cudaMemcpy(one, &h, sizeof h, cudaMemcpyHostToDevice));
  }

  // D[m, n] (column-major, ld m) = A^T . B with A stored k x m (ld k), B stored k x n (ld k).
  void fp8_gemm(int64_t m, int64_t n, int64_t k, const void* A, const void* B, bf16* D, cudaStream_t s) {
    auto key = std::make_tuple(m, n, k);
    auto it = fp8_plans.find(key);
    if (it == fp8_plans.end()) {
      cublasLtMatmulDesc_t desc;
      CKB(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      const int8_t fast = 1;
      CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
      CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
      CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &one, sizeof one));
      CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &one, sizeof one));
      CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof fast));
      cublasLtMatrixLayout_t la, lb, lc;
      CKB(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, m, k));
      CKB(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, n, k));
      CKB(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, m, n, m));
      cublasLtMatmulPreference_t pref;
      CKB(cublasLtMatmulPreferenceCreate(&pref));
      CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes));
      cublasLtMatmulHeuristicResult_t res{};
      int found = 0;
      CKB(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 1, &res, &found));
      CKB(cublasLtMatmulPreferenceDestroy(pref));
      if (found == 0) {
        std::fprintf(stderr, "no cuBLASLt fp8 algorithm for m=%ld n=%ld k=%ld\n", long(m), long(n), long(k));
        std::exit(1);
      }
      it = fp8_plans.emplace(key, std::make_tuple(desc, la, lb, lc, res.algo)).first;
    }
    auto& [desc, la, lb, lc, algo] = it->second;
    const float alpha = 1.0f, beta = 0.0f;
    CKB(cublasLtMatmul(lt, desc, &alpha, A, la, B, lb, &beta, D, lc, D, lc, &algo, workspace, ws_bytes, s));
  }
};

// The launch sequence of one block for given counts; `x` is the input rotation to read.
class SwigluBlock {
 public:
  SwigluBlock(GemmContext& g, const ExpertWeights& w, Activations& act, const std::vector<int64_t>& counts, int rotations)
      : g_(g), w_(w), act_(act), rot_(rotations) {
    int64_t off = 0;
    for (size_t e = 0; e < counts.size(); ++e) {
      if (counts[e] > 0) active_.push_back({int64_t(e), off, counts[e]});
      off += counts[e];
    }
    total_ = off;
    if (!w_.is_fp8) setup_grouped();
  }
  ~SwigluBlock() {
    if (ptrs_) cudaFree(ptrs_);
  }
  int64_t total_tokens() const { return total_; }
  int64_t active_experts() const { return int64_t(active_.size()); }

  void launch(int r, cudaStream_t s) {
    if (active_.empty()) return;
    const int64_t H = w_.H, F = w_.F;
    if (w_.is_fp8) {
      for (auto& a : active_)
        g_.fp8_gemm(2 * F, a.n, H, w_.gu(a.e), static_cast<const char*>(act_.x[r]) + a.off * H, act_.y1 + a.off * 2 * F, s);
    } else {
      grouped(0, r, s);
    }
    const int64_t vec = total_ * F / 8;
    const int blocks = int(std::min<int64_t>((vec + 255) / 256, 132 * 16));
    if (w_.is_fp8)
      swiglu_kernel<fp8><<<blocks, 256, 0, s>>>(act_.y1, static_cast<fp8*>(act_.a), total_, F, 1.0f);
    else
      swiglu_kernel<bf16><<<blocks, 256, 0, s>>>(act_.y1, static_cast<bf16*>(act_.a), total_, F, 1.0f);
    CK_LAUNCH();
    if (w_.is_fp8) {
      for (auto& a : active_)
        g_.fp8_gemm(H, a.n, F, w_.d(a.e), static_cast<const char*>(act_.a) + a.off * F, act_.y2 + a.off * H, s);
    } else {
      grouped(1, r, s);
    }
  }

 private:
  struct Active {
    int64_t e, off, n;
  };
  // Device pointer arrays: [rotation][gemm 0/1][A, B, C][group].
  void setup_grouped() {
    const size_t G = active_.size();
    if (G == 0) return;
    std::vector<const void*> host(size_t(rot_) * 2 * 3 * G);
    const int64_t H = w_.H, F = w_.F;
    for (int r = 0; r < rot_; ++r)
      for (size_t i = 0; i < G; ++i) {
        const auto& a = active_[i];
        auto at = [&](int gemm, int which) -> const void*& { return host[((size_t(r) * 2 + gemm) * 3 + which) * G + i]; };
        at(0, 0) = w_.gu(a.e);
        at(0, 1) = static_cast<const bf16*>(act_.x[r]) + a.off * H;
        at(0, 2) = act_.y1 + a.off * 2 * F;
        at(1, 0) = w_.d(a.e);
        at(1, 1) = static_cast<const bf16*>(act_.a) + a.off * F;
        at(1, 2) = act_.y2 + a.off * H;
      }
    CK(cudaMalloc(&ptrs_, host.size() * sizeof(void*)));
    CK(cudaMemcpy(ptrs_, host.data(), host.size() * sizeof(void*), cudaMemcpyHostToDevice));
    for (int gemm = 0; gemm < 2; ++gemm) {
      auto& d = dims_[gemm];
      d.ta.assign(G, CUBLAS_OP_T), d.tb.assign(G, CUBLAS_OP_N);
      d.alpha.assign(G, 1.0f), d.beta.assign(G, 0.0f), d.size.assign(G, 1);
      for (auto& a : active_) {
        d.m.push_back(int(gemm == 0 ? 2 * F : H));
        d.n.push_back(int(a.n));
        d.k.push_back(int(gemm == 0 ? H : F));
        d.lda.push_back(int(gemm == 0 ? H : F));
        d.ldb.push_back(int(gemm == 0 ? H : F));
        d.ldc.push_back(int(gemm == 0 ? 2 * F : H));
      }
    }
  }
  void grouped(int gemm, int r, cudaStream_t s) {
    const size_t G = active_.size();
    auto& d = dims_[gemm];
    void** base = ptrs_ + (size_t(r) * 2 + gemm) * 3 * G;
    CKB(cublasSetStream(g_.blas, s));
    CKB(cublasGemmGroupedBatchedEx(g_.blas, d.ta.data(), d.tb.data(), d.m.data(), d.n.data(), d.k.data(), d.alpha.data(),
                                   const_cast<const void* const*>(base), CUDA_R_16BF, d.lda.data(),
                                   const_cast<const void* const*>(base + G), CUDA_R_16BF, d.ldb.data(), d.beta.data(),
                                   base + 2 * G, CUDA_R_16BF, d.ldc.data(), int(G), d.size.data(), CUBLAS_COMPUTE_32F));
  }

  struct Dims {
    std::vector<cublasOperation_t> ta, tb;
    std::vector<int> m, n, k, lda, ldb, ldc, size;
    std::vector<float> alpha, beta;
  };
  GemmContext& g_;
  const ExpertWeights& w_;
  Activations& act_;
  int rot_;
  std::vector<Active> active_;
  int64_t total_ = 0;
  void** ptrs_ = nullptr;
  Dims dims_[2];
};

}  // namespace cal
