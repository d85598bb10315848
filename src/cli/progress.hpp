#pragma once
// The one-line progress bar of training on stderr.
#include <string>

namespace scratchcnn::cli {

// What one redraw shows: where the run is, its speed and the time left.
struct ProgressState {
  int epoch = 0, epochs = 0, batch = 0, batches = 0;
  double rate = 0;      // images/s of the epoch so far
  double left = 0;      // seconds left of the epoch's training steps
  double run_left = 0;  // seconds left of the run's training steps
};

// The line for a terminal `width` columns wide, at most width - 1 columns (a line that fills the
// last column wraps on some terminals): a bar of up to 30 columns, narrower as needed; then
// without the run's time left; then without the bar; then only the parts that fit whole.
std::string progress_line(const ProgressState& s, int width);

// The columns of the terminal on stderr (TIOCGWINSZ), else $COLUMNS, else 80.
int terminal_width();

// The bar on stderr, redrawn at most every 0.1 s, only when stderr is a terminal and `on`
// (--quiet turns it off): images/s of the epoch so far, the time left of the epoch and of the run
// (training steps only; each epoch's evaluation comes on top).
class Progress {
 public:
  Progress(int epochs, int samples, bool on = true);
  void step(int epoch, int b, int batches, int done, double secs);
  void clear();

 private:
  int epochs_, samples_;
  bool on_;
  double last_ = 0;
};

}  // namespace scratchcnn::cli
