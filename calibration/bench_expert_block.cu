// Times the grouped SwiGLU expert block (swiglu_block.cuh, backend `cublas-grouped`) for every job
// of a plan file and prints one JSON object per job. Plan lines:
//   u TAG HIDDEN INTERMEDIATE DTYPE EXPERTS TOKENS_PER_EXPERT     (uniform counts)
//   v TAG HIDDEN INTERMEDIATE DTYPE c1,c2,...,cE                  (one count per expert)
// DTYPE is bf16 or fp8. Each job: weights for its shape (random, non-zero), inputs in 2 rotations,
// one CUDA graph per rotation, L2 flushed before every timed replay, median / p10 / p90 of the
// replays. `--selftest` first checks both dtypes against a float64 CPU reference.
#include <fstream>
#include <sstream>

#include "swiglu_block.cuh"

using namespace cal;

namespace {

struct Job {
  std::string kind, tag, dtype;
  int64_t H = 0, F = 0;
  std::vector<int64_t> counts;
};

std::vector<Job> read_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read plan %s\n", path.c_str());
    std::exit(1);
  }
  std::vector<Job> jobs;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    Job j;
    ss >> j.kind >> j.tag >> j.H >> j.F >> j.dtype;
    bool ok = bool(ss) && (j.dtype == "bf16" || j.dtype == "fp8") && j.H % 16 == 0 && j.F % 16 == 0 && j.H > 0 && j.F > 0;
    if (ok && j.kind == "u") {
      int64_t e = 0, n = -1;
      ss >> e >> n;
      ok = bool(ss) && e > 0 && n >= 0;
      j.counts.assign(size_t(std::max<int64_t>(e, 0)), n);
    } else if (ok && j.kind == "v") {
      std::string list;
      ss >> list;
      std::stringstream ls(list);
      std::string item;
      while (ok && std::getline(ls, item, ',')) {
        char* end = nullptr;
        const long long c = std::strtoll(item.c_str(), &end, 10);
        ok = end && *end == 0 && c >= 0;
        j.counts.push_back(c);
      }
      ok = ok && !j.counts.empty();
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "%s:%d: bad plan line: %s\n", path.c_str(), lineno, line.c_str());
      std::exit(1);
    }
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// One CUDA graph of the block reading rotation r, or nullptr when the launches cannot be
// captured (the caller then times eager launches and says so in the output).
cudaGraphExec_t capture(SwigluBlock& block, int r, cudaStream_t s) {
  cudaGraph_t graph = nullptr;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  bool ok = true;
  soft_errors = true;
  try {
    block.launch(r, s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "capture failed (%s); timing eager launches\n", e.what());
    ok = false;
  }
  soft_errors = false;
  const cudaError_t end = cudaStreamEndCapture(s, &graph);
  if (!ok || end != cudaSuccess || graph == nullptr) {
    if (end != cudaSuccess) std::fprintf(stderr, "capture failed (%s); timing eager launches\n", cudaGetErrorString(end));
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    return nullptr;
  }
  cudaGraphExec_t exec;
  CK(cudaGraphInstantiate(&exec, graph, 0));
  CK(cudaGraphDestroy(graph));
  return exec;
}

float to_float(bf16 v) { return __bfloat162float(v); }
float to_float(fp8 v) { return float(v); }

// Runs a small uneven block once and compares Y2 with a float64 CPU reference that rounds the
// intermediates the way the GPU stores them. Returns the relative error ||y - ref|| / ||ref||.
template <typename T>
double selftest(GemmContext& g, cudaStream_t s) {
  const bool is8 = sizeof(T) == 1;
  const int64_t H = 256, F = 128;
  const std::vector<int64_t> counts = {3, 0, 5, 1};
  ExpertWeights w;
  w.allocate(H, F, int64_t(counts.size()), is8, 77);
  Activations act;
  int64_t T_ = 0;
  for (auto c : counts) T_ += c;
  act.prepare(T_, H, F, is8, 1, 99);
  CK(cudaMemset(act.y2, 0xff, T_ * H * 2));  // poison: NaN in bf16
  SwigluBlock block(g, w, act, counts, 1);
  block.launch(0, s);
  CK(cudaStreamSynchronize(s));
  auto fetch = [](const void* p, size_t n) {
    std::vector<T> h(n);
    CK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    std::vector<double> d(n);
    for (size_t i = 0; i < n; ++i) d[i] = to_float(h[i]);
    return d;
  };
  const auto X = fetch(act.x[0], T_ * H), Wgu = fetch(w.wgu, counts.size() * 2 * F * H), Wd = fetch(w.wd, counts.size() * H * F);
  std::vector<bf16> y2(T_ * H);
  CK(cudaMemcpy(y2.data(), act.y2, y2.size() * 2, cudaMemcpyDeviceToHost));
  double err2 = 0, ref2 = 0;
  int64_t off = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    for (int64_t t = off; t < off + counts[e]; ++t) {
      std::vector<double> y1(2 * F), a(F);
      for (int64_t o = 0; o < 2 * F; ++o) {
        double acc = 0;
        for (int64_t k = 0; k < H; ++k) acc += X[t * H + k] * Wgu[(e * 2 * F + o) * H + k];
        y1[o] = __bfloat162float(__float2bfloat16(float(acc)));
      }
      for (int64_t o = 0; o < F; ++o) {
        const double v = y1[o] / (1 + std::exp(-y1[o])) * y1[F + o];
        a[o] = is8 ? double(float(fp8(float(v)))) : double(__bfloat162float(__float2bfloat16(float(v))));
      }
      for (int64_t o = 0; o < H; ++o) {
        double acc = 0;
        for (int64_t k = 0; k < F; ++k) acc += a[k] * Wd[(e * H + o) * F + k];
        const double got = __bfloat162float(y2[t * H + o]);
        err2 += (got - acc) * (got - acc);
        ref2 += acc * acc;
        if (!std::isfinite(got)) err2 += 1e30;
      }
    }
    off += counts[e];
  }
  w.release();
  act.release();
  return std::sqrt(err2 / ref2);
}

struct Options {
  std::string plan;
  double deadline_s = 1e9;
  bool self = false;
};

// False (after printing the usage) on an unknown or incomplete argument.
bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--plan" && i + 1 < argc) o.plan = argv[++i];
    else if (a == "--deadline-s" && i + 1 < argc) o.deadline_s = std::atof(argv[++i]);
    else if (a == "--selftest") o.self = true;
    else {
      std::fprintf(stderr, "usage: bench_expert_block [--selftest] [--plan FILE] [--deadline-s SECONDS]\n");
      return false;
    }
  }
  return true;
}

// Runs both self-tests and prints their JSON line; false when either is out of tolerance.
bool run_selftests(GemmContext& g, cudaStream_t s) {
  const double e16 = selftest<bf16>(g, s), e8 = selftest<fp8>(g, s);
  const bool ok = e16 < 2e-2 && e8 < 5e-2;
  int ver = 0;
  CKB(cublasGetVersion(g.blas, &ver));
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("{\"kind\":\"selftest\",\"backend\":\"cublas-grouped\",\"bf16_rel_err\":%.3e,\"fp8_rel_err\":%.3e,\"ok\":%s,"
              "\"cublas_version\":%d,\"cuda_runtime\":%d,\"device\":\"%s\",\"sms\":%d,\"l2_bytes\":%d}\n",
              e16, e8, ok ? "true" : "false", ver, CUDART_VERSION, prop.name, prop.multiProcessorCount, prop.l2CacheSize);
  std::fflush(stdout);
  return ok;
}

using Shape = std::tuple<int64_t, int64_t, std::string>;  // hidden, intermediate, dtype

// Largest expert count per (shape, dtype), so that weights are allocated once per shape.
std::map<Shape, int64_t> max_experts_per_shape(const std::vector<Job>& jobs) {
  std::map<Shape, int64_t> max_e;
  for (auto& j : jobs) {
    auto& m = max_e[{j.H, j.F, j.dtype}];
    m = std::max<int64_t>(m, int64_t(j.counts.size()));
  }
  return max_e;
}

// The start of a job's JSON line: what it measures.
std::string job_head(const Job& j) {
  std::string counts_json;
  if (j.kind == "v") {
    counts_json = ",\"counts\":[";
    for (size_t i = 0; i < j.counts.size(); ++i) counts_json += (i ? "," : "") + std::to_string(j.counts[i]);
    counts_json += "]";
  } else {
    counts_json = ",\"tokens\":" + std::to_string(j.counts[0]);
  }
  return "{\"kind\":\"expert_block\",\"backend\":\"cublas-grouped\",\"tag\":\"" + j.tag + "\",\"dtype\":\"" + j.dtype +
         "\",\"hidden\":" + std::to_string(j.H) + ",\"intermediate\":" + std::to_string(j.F) +
         ",\"experts\":" + std::to_string(j.counts.size()) + counts_json;
}

// Runs the plan's jobs one by one, keeping the weights of the last shape allocated.
class JobRunner {
 public:
  static constexpr int rot = 2;

  JobRunner(GemmContext& g, cudaStream_t s, const std::vector<Job>& jobs) : g_(g), s_(s), max_e_(max_experts_per_shape(jobs)) {}

  // Prints the job's JSON line: its timing, or that it was skipped for lack of memory.
  void run(const Job& j) {
    const bool is8 = j.dtype == "fp8";
    const Shape key{j.H, j.F, j.dtype};
    int64_t T_ = 0;
    for (auto c : j.counts) T_ += c;
    const size_t wbytes = size_t(max_e_[key]) * 3 * j.H * j.F * (is8 ? 1 : 2);
    size_t free_b = 0, total_b = 0;
    CK(cudaMemGetInfo(&free_b, &total_b));
    const size_t have = free_b + (cur_ == key ? 0 : w_.bytes()) + act_.cap;
    const size_t needed = (cur_ == key ? 0 : wbytes) + Activations::need(T_, j.H, j.F, is8, rot) + (size_t(2) << 30);
    const std::string head = job_head(j);
    if (needed > have) {
      std::printf("%s,\"skipped\":\"memory\"}\n", head.c_str());
      std::fflush(stdout);
      return;
    }
    if (cur_ != key) {
      w_.release();
      act_.release();
      w_.allocate(j.H, j.F, max_e_[key], is8, 1234 + j.H + j.F);
      cur_ = key;
    }
    act_.prepare(T_, j.H, j.F, is8, rot, 4321 + T_);
    SwigluBlock block(g_, w_, act_, j.counts, rot);
    bool graphed = true;
    const Stats st = time_block(block, graphed);
    const double flops = 6.0 * double(T_) * double(j.H) * double(j.F);
    std::printf("%s,\"total_tokens\":%ld,\"active_experts\":%ld,%s,\"tflops\":%.2f,\"graph\":%s}\n", head.c_str(), long(T_),
                long(block.active_experts()), stats_json(st).c_str(), st.median_us > 0 ? flops / st.median_us * 1e-6 : 0.0,
                graphed ? "true" : "false");
    std::fflush(stdout);
  }

 private:
  // Times the block's replays, as CUDA graphs when they can be captured (else eager launches,
  // with `graphed` set false). No launch when no expert has tokens.
  Stats time_block(SwigluBlock& block, bool& graphed) {
    Stats st;
    if (block.active_experts() == 0) return st;
    std::vector<cudaGraphExec_t> ex;
    for (int r = 0; r < rot && graphed; ++r) {
      ex.push_back(capture(block, r, s_));
      graphed = ex.back() != nullptr;
    }
    if (graphed) {
      st = time_launches([&](int rep) { CK(cudaGraphLaunch(ex[rep % rot], s_)); }, s_, l2_);
    } else {
      st = time_launches([&](int rep) { block.launch(rep % rot, s_); }, s_, l2_);
    }
    for (auto e : ex)
      if (e) CK(cudaGraphExecDestroy(e));
    return st;
  }

  GemmContext& g_;
  cudaStream_t s_;
  std::map<Shape, int64_t> max_e_;
  L2Flusher l2_;
  ExpertWeights w_;
  Activations act_;
  Shape cur_{0, 0, ""};
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) return 2;
  wall_seconds();
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  GemmContext g;
  g.init(s);
  if (o.self && !run_selftests(g, s)) return 1;
  if (o.plan.empty()) return 0;
  const auto jobs = read_plan(o.plan);
  JobRunner runner(g, s, jobs);
  size_t done = 0;
  for (auto& j : jobs) {
    if (wall_seconds() > o.deadline_s) {
      std::printf("{\"kind\":\"truncated\",\"backend\":\"cublas-grouped\",\"done\":%zu,\"total\":%zu}\n", done, jobs.size());
      break;
    }
    runner.run(j);
    ++done;
  }
  CK(cudaDeviceSynchronize());
  return 0;
}
