// The progress bar (progress.hpp).
#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "format.hpp"

namespace scratchcnn::cli {

namespace {

std::string line_with(const ProgressState& s, int bar, bool run_left) {
  std::string out = "epoch " + std::to_string(s.epoch) + "/" + std::to_string(s.epochs) + " ";
  if (bar > 0) {
    const int filled = s.batches > 0 ? int(double(bar) * s.batch / s.batches) : 0;
    out += "[" + std::string(std::size_t(filled), '#') + std::string(std::size_t(bar - filled), '.') + "] ";
  }
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.0f", s.rate);
  out += std::to_string(s.batch) + "/" + std::to_string(s.batches) + " batches  " + rate +
         " img/s  " + duration(s.left) + " left";
  if (run_left) out += " (run " + duration(s.run_left) + ")";
  return out;
}

}  // namespace

std::string progress_line(const ProgressState& s, int width) {
  const int room = std::max(width - 1, 0);
  constexpr int kBar = 30, kMinBar = 10;
  for (const bool run_left : {true, false}) {
    // The text around the bar: the bar's brackets and space take 3 columns.
    const int rest = int(line_with(s, 0, run_left).size()) + 3;
    const int bar = std::min(kBar, room - rest);
    if (bar >= kMinBar) return line_with(s, bar, run_left);
  }
  // No bar fits: whole parts from the left (they are two spaces apart), else the first columns.
  const std::string bare = line_with(s, 0, false);
  if (int(bare.size()) <= room) return bare;
  const std::size_t cut = bare.rfind("  ", std::size_t(room));
  return bare.substr(0, cut == std::string::npos ? std::size_t(room) : cut);
}

int terminal_width() {
  winsize w{};
  if (::ioctl(2, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    const int n = std::atoi(c);
    if (n > 0) return n;
  }
  return 80;
}

Progress::Progress(int epochs, int samples, bool on)
    : epochs_(epochs), samples_(samples), on_(on && ::isatty(2)) {}

void Progress::step(int epoch, int b, int batches, int done, double secs) {
  if (!on_ || (b != batches && secs - last_ < 0.1)) return;
  last_ = secs;
  ProgressState s{epoch, epochs_, b, batches};
  s.rate = secs > 0 ? done / secs : 0;
  s.left = s.rate > 0 ? std::max(0.0, double(samples_ - done)) / s.rate : 0;
  s.run_left = s.left + (s.rate > 0 ? double(epochs_ - epoch) * samples_ / s.rate : 0);
  std::fprintf(stderr, "\r\033[K%s", progress_line(s, terminal_width()).c_str());
  std::fflush(stderr);
}

void Progress::clear() {
  if (on_) std::fprintf(stderr, "\r\033[K");
  last_ = 0;
}

}  // namespace scratchcnn::cli
