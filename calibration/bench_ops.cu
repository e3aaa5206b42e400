// Times the non-expert kernels a MoE layer needs, one JSON object per line:
//   dense_gemm   Y[M, N] = X[M, K] . W^T (W stored [N, K]) in bf16 (cublasGemmEx) and fp8
//                (cuBLASLt, e4m3, per-tensor scales): attention projections and shared experts
//   memcpy       device-to-device copy bandwidth (bytes read + written) over a size grid
//   gating       router GEMM [T, H] x [H, E] (bf16 in, fp32 logits) + a softmax/top-k kernel
//   elementwise  SiLU*mul (bf16) and a bf16 residual add over token counts
// Same timing rules as the expert benchmark: warm-up, L2 flushed before every timed launch,
// median / p10 / p90 of CUDA-event timings, random non-zero inputs.
#include "swiglu_block.cuh"

using namespace cal;

namespace {

__global__ void topk_softmax_kernel(const float* __restrict__ logits, int T, int E, int k, int* __restrict__ ids,
                                    float* __restrict__ weights) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  if (warp >= T) return;
  float v[8];  // E <= 256
  const int per = (E + 31) / 32;
  float mx = -INFINITY;
  for (int j = 0; j < per; ++j) {
    const int e = lane + 32 * j;
    v[j] = e < E ? logits[size_t(warp) * E + e] : -INFINITY;
    mx = fmaxf(mx, v[j]);
  }
  for (int o = 16; o; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, o));
  float sum = 0;
  for (int j = 0; j < per; ++j) {
    v[j] = lane + 32 * j < E ? __expf(v[j] - mx) : 0.0f;
    sum += v[j];
  }
  for (int o = 16; o; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
  for (int r = 0; r < k; ++r) {
    float best = -1;
    int bi = 0;
    for (int j = 0; j < per; ++j)
      if (v[j] > best) best = v[j], bi = lane + 32 * j;
    for (int o = 16; o; o >>= 1) {
      const float ob = __shfl_xor_sync(0xffffffff, best, o);
      const int oi = __shfl_xor_sync(0xffffffff, bi, o);
      if (ob > best || (ob == best && oi < bi)) best = ob, bi = oi;
    }
    if (lane == 0) ids[size_t(warp) * k + r] = bi, weights[size_t(warp) * k + r] = best / sum;
    if (bi % 32 == lane) v[bi / 32] = -1;
  }
}

__global__ void add_kernel(const bf16* __restrict__ a, const bf16* __restrict__ b, bf16* __restrict__ c, size_t n8) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n8; i += size_t(gridDim.x) * blockDim.x) {
    const uint4 x = reinterpret_cast<const uint4*>(a)[i], y = reinterpret_cast<const uint4*>(b)[i];
    uint4 z;
    const __nv_bfloat162* xp = reinterpret_cast<const __nv_bfloat162*>(&x);
    const __nv_bfloat162* yp = reinterpret_cast<const __nv_bfloat162*>(&y);
    __nv_bfloat162* zp = reinterpret_cast<__nv_bfloat162*>(&z);
    for (int j = 0; j < 4; ++j) zp[j] = __hadd2(xp[j], yp[j]);
    reinterpret_cast<uint4*>(c)[i] = z;
  }
}

void emit(const std::string& head, const Stats& st, double flops, double bytes) {
  std::printf("{%s,%s,\"tflops\":%.3f,\"gbps\":%.1f}\n", head.c_str(), stats_json(st).c_str(), flops / st.median_us * 1e-6,
              bytes / st.median_us * 1e-3);
  std::fflush(stdout);
}

void dense(GemmContext& g, L2Flusher& l2, cudaStream_t s) {
  struct Shape {
    const char* what;
    int64_t K, N;
  };
  const Shape shapes[] = {{"dsv3_q_a", 7168, 1536},     {"dsv3_kv_a", 7168, 576},    {"dsv3_q_b", 1536, 24576},
                          {"dsv3_o", 16384, 7168},      {"dsv3_shared_gate_up", 7168, 4096}, {"dsv3_shared_down", 2048, 7168},
                          {"gqa4096_qkv", 4096, 6144}, {"gqa4096_o", 4096, 4096},   {"qwen3_qkv", 2048, 5120}};
  const int64_t Ms[] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
  for (const char* dt : {"bf16", "fp8"}) {
    const bool is8 = std::string(dt) == "fp8";
    for (auto& sh : shapes) {
      void *w, *x;
      bf16* y;
      const size_t e = is8 ? 1 : 2;
      CK(cudaMalloc(&w, sh.N * sh.K * e));
      CK(cudaMalloc(&x, 16384 * sh.K * e));
      CK(cudaMalloc(&y, 16384 * sh.N * 2));
      if (is8) {
        fill_random(static_cast<fp8*>(w), sh.N * sh.K, 5, 0.1f);
        fill_random(static_cast<fp8*>(x), 16384 * sh.K, 6, 1.0f);
      } else {
        fill_random(static_cast<bf16*>(w), sh.N * sh.K, 5, 0.05f);
        fill_random(static_cast<bf16*>(x), 16384 * sh.K, 6, 1.0f);
      }
      for (int64_t M : Ms) {
        auto launch = [&](int) {
          if (is8) {
            g.fp8_gemm(sh.N, M, sh.K, w, x, y, s);
          } else {
            const float al = 1.0f, be = 0.0f;
            CKB(cublasGemmEx(g.blas, CUBLAS_OP_T, CUBLAS_OP_N, int(sh.N), int(M), int(sh.K), &al, w, CUDA_R_16BF, int(sh.K), x,
                             CUDA_R_16BF, int(sh.K), &be, y, CUDA_R_16BF, int(sh.N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
          }
        };
        const auto st = time_launches(launch, s, l2, 60, 5, 40);
        char head[256];
        std::snprintf(head, sizeof head, "\"kind\":\"dense_gemm\",\"what\":\"%s\",\"dtype\":\"%s\",\"M\":%ld,\"K\":%ld,\"N\":%ld", sh.what,
                      dt, long(M), long(sh.K), long(sh.N));
        emit(head, st, 2.0 * M * sh.N * sh.K, double(sh.N * sh.K * e + M * sh.K * e + M * sh.N * 2));
      }
      CK(cudaFree(w));
      CK(cudaFree(x));
      CK(cudaFree(y));
    }
  }
}

void memcpy_bw(L2Flusher& l2, cudaStream_t s) {
  const size_t max_b = size_t(4) << 30;
  void *a, *b;
  CK(cudaMalloc(&a, max_b));
  CK(cudaMalloc(&b, max_b));
  fill_random(static_cast<bf16*>(a), max_b / 2, 9, 1.0f);
  for (size_t bytes = size_t(1) << 20; bytes <= max_b; bytes *= 4) {
    const auto st = time_launches([&](int) { CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s)); }, s, l2, 60, 5, 40);
    char head[160];
    std::snprintf(head, sizeof head, "\"kind\":\"memcpy\",\"bytes\":%zu", bytes);
    emit(head, st, 0, 2.0 * bytes);
  }
  CK(cudaFree(a));
  CK(cudaFree(b));
}

void gating(GemmContext& g, L2Flusher& l2, cudaStream_t s) {
  struct G {
    const char* what;
    int H, E, k;
  };
  const G cases[] = {{"dsv3", 7168, 256, 8}, {"qwen3_30b", 2048, 128, 8}, {"mixtral", 4096, 8, 2}};
  for (auto& c : cases) {
    const int Tmax = 65536;
    bf16 *x, *w;
    float *logits, *wt;
    int* ids;
    CK(cudaMalloc(&x, size_t(Tmax) * c.H * 2));
    CK(cudaMalloc(&w, size_t(c.E) * c.H * 2));
    CK(cudaMalloc(&logits, size_t(Tmax) * c.E * 4));
    CK(cudaMalloc(&wt, size_t(Tmax) * c.k * 4));
    CK(cudaMalloc(&ids, size_t(Tmax) * c.k * 4));
    fill_random(x, size_t(Tmax) * c.H, 1, 1.0f);
    fill_random(w, size_t(c.E) * c.H, 2, 0.05f);
    for (int T : {1, 16, 256, 4096, 65536}) {
      auto launch = [&](int) {
        const float al = 1.0f, be = 0.0f;
        CKB(cublasGemmEx(g.blas, CUBLAS_OP_T, CUBLAS_OP_N, c.E, T, c.H, &al, w, CUDA_R_16BF, c.H, x, CUDA_R_16BF, c.H, &be, logits,
                         CUDA_R_32F, c.E, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        topk_softmax_kernel<<<(T * 32 + 255) / 256, 256, 0, s>>>(logits, T, c.E, c.k, ids, wt);
        CK_LAUNCH();
      };
      const auto st = time_launches(launch, s, l2, 60, 5, 40);
      char head[200];
      std::snprintf(head, sizeof head, "\"kind\":\"gating\",\"what\":\"%s\",\"tokens\":%d,\"hidden\":%d,\"experts\":%d,\"top_k\":%d", c.what,
                    T, c.H, c.E, c.k);
      emit(head, st, 2.0 * T * c.H * c.E, 2.0 * (double(T) * c.H + double(c.E) * c.H) + 4.0 * T * c.E * 2);
    }
    for (void* p : {(void*)x, (void*)w, (void*)logits, (void*)wt, (void*)ids}) CK(cudaFree(p));
  }
}

void elementwise(L2Flusher& l2, cudaStream_t s) {
  const int64_t F = 2048, H = 7168, Tmax = 16384;
  bf16 *in, *out, *r;
  CK(cudaMalloc(&in, Tmax * 2 * F * 2));
  CK(cudaMalloc(&out, Tmax * H * 2));
  CK(cudaMalloc(&r, Tmax * H * 2));
  fill_random(in, Tmax * 2 * F, 3, 2.0f);
  fill_random(r, Tmax * H, 4, 1.0f);
  for (int64_t T : {1, 64, 1024, 16384}) {
    const int blocks = int(std::min<int64_t>((T * F / 8 + 255) / 256, 132 * 16));
    auto st = time_launches([&](int) { swiglu_kernel<bf16><<<blocks, 256, 0, s>>>(in, out, T, F, 1.0f); CK_LAUNCH(); }, s, l2, 60, 5, 40);
    char head[160];
    std::snprintf(head, sizeof head, "\"kind\":\"elementwise\",\"what\":\"silu_mul\",\"tokens\":%ld,\"width\":%ld", long(T), long(F));
    emit(head, st, 0, double(T) * 3 * F * 2);
    const int b2 = int(std::min<int64_t>((T * H / 8 + 255) / 256, 132 * 16));
    st = time_launches([&](int) { add_kernel<<<b2, 256, 0, s>>>(r, out, out, size_t(T * H / 8)); CK_LAUNCH(); }, s, l2, 60, 5, 40);
    std::snprintf(head, sizeof head, "\"kind\":\"elementwise\",\"what\":\"residual_add\",\"tokens\":%ld,\"width\":%ld", long(T), long(H));
    emit(head, st, 0, double(T) * 3 * H * 2);
  }
  CK(cudaFree(in));
  CK(cudaFree(out));
  CK(cudaFree(r));
}

}  // namespace

int main() {
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  GemmContext g;
  g.init(s);
  L2Flusher l2;
  memcpy_bw(l2, s);
  elementwise(l2, s);
  gating(g, l2, s);
  dense(g, l2, s);
  CK(cudaDeviceSynchronize());
  return 0;
}
