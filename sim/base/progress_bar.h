// A one-line progress bar with rate and ETA, redrawn on stderr at most ten times a second, for
// long runs such as sweeps. Disabled (draws nothing) unless asked for; callers enable it only
// when stderr is a terminal. Safe to call from several threads.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace moesim {

class ProgressBar {
 public:
  // `total` items, `done` of them finished before this run (they count toward the bar, not the rate).
  ProgressBar(int64_t total, int64_t done, bool enabled, std::string label = "");
  ~ProgressBar();
  void tick(bool failed = false);  // one more item finished
  void finish();                   // erase the bar

  // "[=====>    ] 12/40  30%  3.1/s  ETA 9s  1 failed", fitted to `width` columns.
  static std::string render(int64_t done, int64_t total, int64_t failed, double rate, double eta_s, int width,
                            const std::string& label);
  static std::string format_duration(double seconds);  // "9s", "3m04s", "2h05m"

 private:
  void draw(bool force);
  using Clock = std::chrono::steady_clock;
  std::mutex mutex_;
  int64_t total_, done_, start_done_, failed_ = 0;
  bool enabled_, finished_ = false;
  std::string label_;
  Clock::time_point start_, last_draw_;
};

}  // namespace moesim
