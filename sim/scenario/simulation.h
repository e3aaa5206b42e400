// One simulated step of an experiment, as an object (many can run in one process). Phases:
// build (the scenario: resolve the experiment, build topology, placements, routing source),
// freeze (compute routes; inputs read-only from here), run (the layer pass: per layer routing ->
// dispatch plan -> op costs; then the step's op graph runs on the event engine, and the step is
// analysed once), report (report.json and the timeline serialise the analysis).
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sim/engine/engine.h"
#include "sim/moe/hbm_ledger.h"
#include "sim/scenario/experiment_config.h"
#include "sim/scenario/layer_pass.h"
#include "sim/scenario/scenario.h"
#include "sim/scenario/step_analysis.h"
#include "sim/scenario/step_graph.h"

namespace moesim {

struct RunStats {
  double wall_seconds = 0;
  uint64_t events = 0;
  size_t ops = 0;
};

class Simulation {
 public:
  // setup_threads: see Scenario (the layer pass's threads are set_threads').
  explicit Simulation(ExperimentConfig config, int setup_threads = 1);
  void freeze();
  void run();
  Json report() const;    // report.cpp
  Json timeline() const;  // timeline.cpp
  const RunStats& stats() const { return stats_; }
  const ExperimentConfig& config() const { return scenario_->config(); }
  // Called after each layer of the routing/cost pass with (layers done, layers); for progress.
  void set_progress(std::function<void(int64_t, int64_t)> callback) { progress_ = std::move(callback); }
  // Threads for the per-layer routing, dispatch planning and all-to-all pass (default 1); the
  // results do not depend on it.
  void set_threads(int threads) { threads_ = std::max(1, threads); }

 private:
  StepExtras training_extras() const;
  void finish_step();

  std::unique_ptr<Scenario> scenario_;
  Engine engine_;
  LayerPassResult pass_;
  std::vector<HbmLedger> hbm_;
  StepGraph graph_;
  StepAnalysis analysis_;
  RunStats stats_;
  bool ran_ = false;
  std::function<void(int64_t, int64_t)> progress_;
  int threads_ = 1;
};

}  // namespace moesim
