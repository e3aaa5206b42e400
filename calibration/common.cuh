// Shared helpers of the calibration benchmarks: status checks that abort with file:line, random
// non-zero fills, an L2 flush between timed runs, CUDA-event timing of one launch at a time, and
// median / p10 / p90 of the samples. Output is one JSON object per line on stdout.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#define CK(call)                                                                                  \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d: CUDA error %s: %s\n", __FILE__, __LINE__, cudaGetErrorName(e_), \
                   cudaGetErrorString(e_));                                                       \
      std::exit(1);                                                                               \
    }                                                                                             \
  } while (0)

// While cal::soft_errors is set (during a graph capture attempt) a failed cuBLAS call throws
// instead of exiting, so that the caller can fall back to eager launches.
#define CKB(call)                                                                                  \
  do {                                                                                             \
    cublasStatus_t s_ = (call);                                                                    \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                             \
      if (cal::soft_errors) throw std::runtime_error(cublasGetStatusString(s_));                   \
      std::fprintf(stderr, "%s:%d: cuBLAS error %d (%s)\n", __FILE__, __LINE__, int(s_),          \
                   cublasGetStatusString(s_));                                                     \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

#define CK_LAUNCH() CK(cudaGetLastError())

namespace cal {

inline bool soft_errors = false;

using bf16 = __nv_bfloat16;
using fp8 = __nv_fp8_e4m3;

__host__ __device__ inline float hash_uniform(uint64_t i, uint64_t seed) {
  uint64_t x = i * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return static_cast<float>((x >> 40) * (1.0 / 16777216.0));  // [0, 1)
}

// Uniform in [-scale, scale] with |v| >= scale/64: random, never zero.
__host__ __device__ inline float nonzero_value(uint64_t i, uint64_t seed, float scale) {
  float u = hash_uniform(i, seed) * 2.0f - 1.0f;
  if (std::fabs(u) < 1.0f / 64) u = u < 0 ? -1.0f / 64 : 1.0f / 64;
  return u * scale;
}

template <typename T>
__global__ void fill_kernel(T* p, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = T(nonzero_value(i, seed, scale));
}

template <typename T>
inline void fill_random(T* p, size_t n, uint64_t seed, float scale, cudaStream_t s = 0) {
  if (n == 0) return;
  fill_kernel<T><<<1024, 256, 0, s>>>(p, n, seed, scale);
  CK_LAUNCH();
}

struct Stats {
  double median_us = 0, p10_us = 0, p90_us = 0, min_us = 0;
  int reps = 0;
};

inline double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

inline Stats summarize(const std::vector<double>& us) {
  Stats s;
  s.reps = static_cast<int>(us.size());
  s.median_us = quantile(us, 0.5);
  s.p10_us = quantile(us, 0.1);
  s.p90_us = quantile(us, 0.9);
  s.min_us = *std::min_element(us.begin(), us.end());
  return s;
}

// Writes over a buffer twice the L2 size before each timed run, so that no run finds its weights
// or inputs in L2 from the previous one (a real forward pass streams other layers in between).
class L2Flusher {
 public:
  L2Flusher() {
    int dev = 0, l2 = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    bytes_ = std::max<size_t>(size_t(l2) * 2, size_t(64) << 20);
    CK(cudaMalloc(&buf_, bytes_));
  }
  ~L2Flusher() { cudaFree(buf_); }
  void flush(cudaStream_t s) { CK(cudaMemsetAsync(buf_, ++tick_ & 0xff, bytes_, s)); }

 private:
  void* buf_ = nullptr;
  size_t bytes_ = 0;
  int tick_ = 0;
};

// Times `launch(rep)` with CUDA events around each launch alone (the L2 flush in between is not
// timed). Warm-up launches first; then as many timed launches as fit `target_ms`, within
// [min_reps, max_reps]. The host enqueues everything before waiting, so the GPU never idles
// between runs unless one run is shorter than its host launch cost.
inline Stats time_launches(const std::function<void(int)>& launch, cudaStream_t s, L2Flusher& l2, double target_ms = 150,
                           int min_reps = 3, int max_reps = 40, int warmup = 1) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int w = 0; w < warmup; ++w) {
    l2.flush(s);
    launch(w);
  }
  l2.flush(s);
  CK(cudaEventRecord(a, s));
  launch(warmup);
  CK(cudaEventRecord(b, s));
  CK(cudaEventSynchronize(b));
  float probe_ms = 0;
  CK(cudaEventElapsedTime(&probe_ms, a, b));
  const int reps = std::clamp(static_cast<int>(target_ms / std::max(probe_ms, 1e-3f)), min_reps, max_reps);
  std::vector<cudaEvent_t> ev(2 * reps);
  for (auto& e : ev) CK(cudaEventCreate(&e));
  for (int r = 0; r < reps; ++r) {
    l2.flush(s);
    CK(cudaEventRecord(ev[2 * r], s));
    launch(r + warmup + 1);
    CK(cudaEventRecord(ev[2 * r + 1], s));
  }
  CK(cudaStreamSynchronize(s));
  std::vector<double> us(reps);
  for (int r = 0; r < reps; ++r) {
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, ev[2 * r], ev[2 * r + 1]));
    us[r] = ms * 1000.0;
  }
  for (auto& e : ev) CK(cudaEventDestroy(e));
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  return summarize(us);
}

inline std::string stats_json(const Stats& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "\"median_us\":%.3f,\"p10_us\":%.3f,\"p90_us\":%.3f,\"min_us\":%.3f,\"reps\":%d", s.median_us,
                s.p10_us, s.p90_us, s.min_us, s.reps);
  return buf;
}

inline double wall_seconds() {
  using clk = std::chrono::steady_clock;
  static const auto t0 = clk::now();
  return std::chrono::duration<double>(clk::now() - t0).count();
}

}  // namespace cal
