// The progress bar: rate over this run's items, ETA = items left / rate, width from the terminal.
#include "sim/base/progress_bar.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace moesim {
namespace {

int terminal_width() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

ProgressBar::ProgressBar(int64_t total, int64_t done, bool enabled, std::string label)
    : total_(total), done_(done), start_done_(done), enabled_(enabled), label_(std::move(label)), start_(Clock::now()) {
  last_draw_ = start_;
  if (enabled_) draw(true);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::tick(bool failed) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++done_;
  if (failed) ++failed_;
  draw(done_ == total_);
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!enabled_ || finished_) return;
  finished_ = true;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

void ProgressBar::draw(bool force) {
  if (!enabled_ || finished_) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t ran = done_ - start_done_;
  const double rate = elapsed > 0 && ran > 0 ? static_cast<double>(ran) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1.0;
  const std::string line = render(done_, total_, failed_, rate, eta, terminal_width() - 1, label_);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
}

std::string ProgressBar::format_duration(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  const auto t = static_cast<int64_t>(std::llround(s));
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t / 60) % 60);
}

std::string ProgressBar::render(int64_t done, int64_t total, int64_t failed, double rate, double eta_s, int width,
                                const std::string& label) {
  const double frac = total > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0) : 1.0;
  std::string tail = fmt::format(" {}/{} {:3.0f}%", done, total, 100.0 * frac);
  if (rate > 0) tail += fmt::format("  {:.3g}/s  ETA {}", rate, done >= total ? "0s" : format_duration(eta_s));
  if (failed > 0) tail += fmt::format("  {} failed", failed);
  const std::string head = label.empty() ? "" : label + " ";
  const int bar = std::min(40, width - static_cast<int>(head.size() + tail.size()) - 2);
  if (bar < 5) return (head + tail.substr(1)).substr(0, static_cast<size_t>(std::max(width, 0)));
  const int filled = static_cast<int>(frac * bar);
  std::string b = head;
  b.append(1, '[').append(static_cast<size_t>(filled), '=');
  if (filled < bar) b.append(1, '>').append(static_cast<size_t>(bar - filled - 1), ' ');
  return b.append(1, ']').append(tail);
}

}  // namespace moesim
