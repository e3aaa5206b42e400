// Communication between the GPUs of one host, one JSON object per line:
//   p2p        cudaMemcpyPeerAsync bandwidth for every ordered pair, one direction and both
//   alltoall   NCCL all-to-all (equal blocks) and all-to-all-v over a size grid, one process driving
//              all GPUs (ncclCommInitAll), grouped ncclSend/ncclRecv; built only when NCCL was found
//              (MOESIM_HAVE_NCCL). all-to-all-v sizes: "random" (uniform in 0.25-1.75x the block) and,
//              with --skew FILE (calibration/plans/a2a_skew.txt), "trace:MODEL": the per-(src, dst)
//              token counts of a real MoE dispatch on this many GPUs, scaled to the block as mean.
// Usage: bench_comm [--skew FILE]
// On a machine with fewer than 2 GPUs it says so and exits 0. NVLink multicast (NVLS) is kept off.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>
#ifdef MOESIM_HAVE_NCCL
#include <nccl.h>
#endif

#define CK(call)                                                                                                \
  do {                                                                                                          \
    cudaError_t e_ = (call);                                                                                    \
    if (e_ != cudaSuccess) {                                                                                    \
      std::fprintf(stderr, "%s:%d: CUDA error %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));               \
      std::exit(1);                                                                                             \
    }                                                                                                           \
  } while (0)
#define CKN(call)                                                                                               \
  do {                                                                                                          \
    auto r_ = (call);                                                                                           \
    if (r_ != 0) {                                                                                              \
      std::fprintf(stderr, "%s:%d: NCCL error %d\n", __FILE__, __LINE__, int(r_));                              \
      std::exit(1);                                                                                             \
    }                                                                                                           \
  } while (0)

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times fn() `reps` times after 2 warm-ups, synchronizing all devices around each run; returns us.
template <typename Fn>
double time_all(int ndev, Fn fn, int reps = 10) {
  std::vector<double> us;
  for (int r = 0; r < reps + 2; ++r) {
    for (int d = 0; d < ndev; ++d) {
      CK(cudaSetDevice(d));
      CK(cudaDeviceSynchronize());
    }
    CK(cudaSetDevice(0));
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, 0));
    fn();
    for (int d = 0; d < ndev; ++d) {
      CK(cudaSetDevice(d));
      CK(cudaDeviceSynchronize());
    }
    CK(cudaSetDevice(0));
    CK(cudaEventRecord(b, 0));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    if (r >= 2) us.push_back(ms * 1e3);
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
  }
  return median(us);
}

void p2p(int ndev) {
  const size_t bytes = size_t(256) << 20;
  std::vector<void*> buf(ndev), buf2(ndev);
  std::vector<cudaStream_t> st(ndev);
  for (int d = 0; d < ndev; ++d) {
    CK(cudaSetDevice(d));
    CK(cudaMalloc(&buf[d], bytes));
    CK(cudaMalloc(&buf2[d], bytes));
    CK(cudaMemset(buf[d], d + 1, bytes));
    CK(cudaStreamCreate(&st[d]));
    for (int p = 0; p < ndev; ++p) {
      int can = 0;
      if (p != d && cudaDeviceCanAccessPeer(&can, d, p) == cudaSuccess && can) {
        const cudaError_t e = cudaDeviceEnablePeerAccess(p, 0);
        if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled) CK(e);
        (void)cudaGetLastError();
      }
    }
  }
  for (int i = 0; i < ndev; ++i)
    for (int j = 0; j < ndev; ++j) {
      if (i == j) continue;
      int can = 0;
      CK(cudaDeviceCanAccessPeer(&can, i, j));
      const double uni = time_all(ndev, [&] { CK(cudaSetDevice(i)); CK(cudaMemcpyPeerAsync(buf2[j], j, buf[i], i, bytes, st[i])); });
      const double bi = time_all(ndev, [&] {
        CK(cudaSetDevice(i));
        CK(cudaMemcpyPeerAsync(buf2[j], j, buf[i], i, bytes, st[i]));
        CK(cudaSetDevice(j));
        CK(cudaMemcpyPeerAsync(buf2[i], i, buf[j], j, bytes, st[j]));
      });
      std::printf("{\"kind\":\"p2p\",\"src\":%d,\"dst\":%d,\"peer_access\":%s,\"bytes\":%zu,\"unidir_us\":%.2f,\"unidir_gbps\":%.1f,"
                  "\"bidir_us\":%.2f,\"bidir_gbps\":%.1f}\n",
                  i, j, can ? "true" : "false", bytes, uni, bytes / uni * 1e-3, bi, 2.0 * bytes / bi * 1e-3);
      std::fflush(stdout);
    }
  for (int d = 0; d < ndev; ++d) {
    CK(cudaSetDevice(d));
    CK(cudaFree(buf[d]));
    CK(cudaFree(buf2[d]));
    CK(cudaStreamDestroy(st[d]));
  }
}

// Skewed size matrices for `ndev` GPUs from FILE (lines "MODEL N SRC DST TOKENS", '#' comments):
// model -> [src][dst] weights with mean 1.
using Skews = std::map<std::string, std::vector<std::vector<double>>>;
Skews read_skews(const std::string& path, int ndev) {
  Skews out;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "bench_comm: cannot open %s\n", path.c_str());
    std::exit(2);
  }
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string model;
    int n = 0, src = -1, dst = -1;
    double tokens = -1;
    if (!(ls >> model >> n >> src >> dst >> tokens) || n < 1 || src < 0 || dst < 0 || src >= n || dst >= n || tokens < 0) {
      std::fprintf(stderr, "bench_comm: %s:%d: expected MODEL N SRC DST TOKENS\n", path.c_str(), lineno);
      std::exit(2);
    }
    if (n != ndev) continue;
    auto& m = out[model];
    if (m.empty()) m.assign(ndev, std::vector<double>(ndev, 0.0));
    m[src][dst] = tokens;
  }
  for (auto& [model, m] : out) {
    double sum = 0;
    for (const auto& row : m)
      for (double v : row) sum += v;
    for (auto& row : m)
      for (double& v : row) v = sum > 0 ? v * ndev * ndev / sum : 1.0;
  }
  return out;
}

#ifdef MOESIM_HAVE_NCCL
void alltoall(int ndev, const Skews& skews) {
  std::vector<ncclComm_t> comms(ndev);
  CKN(ncclCommInitAll(comms.data(), ndev, nullptr));
  const size_t max_block = size_t(64) << 20;  // bytes per (src, dst) pair
  std::vector<char*> send(ndev), recv(ndev);
  std::vector<cudaStream_t> st(ndev);
  for (int d = 0; d < ndev; ++d) {
    CK(cudaSetDevice(d));
    CK(cudaMalloc(&send[d], max_block * ndev * 2));
    CK(cudaMalloc(&recv[d], max_block * ndev * 2));
    CK(cudaMemset(send[d], d + 3, max_block * ndev * 2));
    CK(cudaStreamCreate(&st[d]));
  }
  auto run = [&](const std::vector<std::vector<size_t>>& sz) {  // sz[src][dst] bytes
    CKN(ncclGroupStart());
    for (int d = 0; d < ndev; ++d) {
      size_t so = 0, ro = 0;
      for (int p = 0; p < ndev; ++p) {
        CKN(ncclSend(send[d] + so, sz[d][p], ncclInt8, p, comms[d], st[d]));
        CKN(ncclRecv(recv[d] + ro, sz[p][d], ncclInt8, p, comms[d], st[d]));
        so += sz[d][p], ro += sz[p][d];
      }
    }
    CKN(ncclGroupEnd());
  };
  for (size_t block = 1024; block <= max_block; block *= 4) {
    std::vector<std::vector<size_t>> even(ndev, std::vector<size_t>(ndev, block)), uneven = even;
    uint64_t x = 12345 + block;
    for (auto& row : uneven)
      for (auto& v : row) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v = size_t(double(block) * (0.25 + 1.5 * double(x >> 11) / 9007199254740992.0)) / 16 * 16;
      }
    std::vector<std::pair<std::string, std::vector<std::vector<size_t>>>> cases = {{"even", even}, {"random", uneven}};
    for (const auto& skew : skews) {
      const std::string& model = skew.first;
      const std::vector<std::vector<double>>& w = skew.second;
      std::vector<std::vector<size_t>> sz(ndev, std::vector<size_t>(ndev));
      for (int d = 0; d < ndev; ++d)
        for (int p = 0; p < ndev; ++p) sz[d][p] = size_t(w[d][p] * double(block)) / 16 * 16;
      bool fits = true;  // every GPU's send and receive totals within its buffers
      for (int d = 0; d < ndev; ++d) {
        size_t row = 0, col = 0;
        for (int p = 0; p < ndev; ++p) row += sz[d][p], col += sz[p][d];
        fits = fits && row <= max_block * ndev * 2 && col <= max_block * ndev * 2;
      }
      if (fits) cases.push_back({"trace:" + model, sz});
    }
    for (const auto& c : cases) {
      const std::string& sizes = c.first;
      const std::vector<std::vector<size_t>>& sz = c.second;
      const double us = time_all(ndev, [&] { run(sz); });
      size_t most = 0, most_in = 0;  // bytes the busiest GPU sends to / receives from others
      for (int d = 0; d < ndev; ++d) {
        size_t s = 0, r = 0;
        for (int p = 0; p < ndev; ++p) s += p == d ? 0 : sz[d][p], r += p == d ? 0 : sz[p][d];
        most = std::max(most, s), most_in = std::max(most_in, r);
      }
      std::string matrix;  // the sizes, so that a model can be run on exactly this exchange
      for (int d = 0; d < ndev; ++d) {
        matrix += d ? ",[" : "[";
        for (int p = 0; p < ndev; ++p) matrix += (p ? "," : "") + std::to_string(sz[d][p]);
        matrix += "]";
      }
      std::printf("{\"kind\":\"%s\",\"sizes\":\"%s\",\"gpus\":%d,\"block_bytes\":%zu,\"max_send_bytes\":%zu,\"max_recv_bytes\":%zu,"
                  "\"median_us\":%.2f,\"algbw_gbps\":%.1f,\"bytes\":[%s]}\n",
                  sizes == "even" ? "alltoall" : "alltoallv", sizes.c_str(), ndev, block, most, most_in, us, most / us * 1e-3, matrix.c_str());
      std::fflush(stdout);
    }
  }
  for (int d = 0; d < ndev; ++d) {
    CK(cudaSetDevice(d));
    CK(cudaFree(send[d]));
    CK(cudaFree(recv[d]));
    ncclCommDestroy(comms[d]);
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  setenv("NCCL_NVLS_ENABLE", "0", 1);  // never NVLink multicast (see the device notes)
  std::string skew_file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--skew" && i + 1 < argc) {
      skew_file = argv[++i];
    } else {
      std::fprintf(stderr, "usage: bench_comm [--skew FILE]\n");
      return 2;
    }
  }
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess) ndev = 0;
  // Read (and so check) the skew file even where nothing runs.
  const Skews skews = skew_file.empty() ? Skews{} : read_skews(skew_file, ndev);
  if (ndev < 2) {
    std::printf("{\"kind\":\"comm_skipped\",\"gpus\":%d,\"reason\":\"communication benchmarks need >= 2 GPUs\"}\n", ndev);
    std::fprintf(stderr, "bench_comm: %d GPU(s) visible; the communication benchmarks need >= 2 GPUs, nothing to do\n", ndev);
    return 0;
  }
  p2p(ndev);
#ifdef MOESIM_HAVE_NCCL
  alltoall(ndev, skews);
#else
  std::printf("{\"kind\":\"comm_skipped\",\"gpus\":%d,\"reason\":\"built without NCCL\"}\n", ndev);
#endif
  return 0;
}
