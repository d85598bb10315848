// The adaptive thread count of train() (thread_tuner.hpp).
#include "core/thread_tuner.hpp"

#include <algorithm>

namespace scratchcnn {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

ThreadTuner::ThreadTuner(int most) {
  most = std::max(1, most);
  if (most <= 4) {
    for (int c = 1; c <= most; ++c) candidates_.push_back(c);
  } else {
    for (int c = 1; c < most; c *= 2) candidates_.push_back(c);
    candidates_.push_back(most);
  }
  if (candidates_.size() > 1) start_probe();
}

void ThreadTuner::start_probe() {
  probing_ = true;
  candidate_ = 0;
  steps_ = 0;
  timed_.clear();
  medians_.assign(candidates_.size(), 0.0);
  probe_seconds_ = 0;
  probe_steps_ = 0;
  current_ = candidates_[0];
  ++probes_;
}

void ThreadTuner::finish_probe() {
  std::size_t best = 0;
  for (std::size_t i = 1; i < candidates_.size(); ++i)
    if (medians_[i] * kPreferFewer < medians_[best]) best = i;
  // What the probe cost beyond running all its steps on the winner.
  const double steps = double(probe_steps_);
  const double cost = std::max(0.0, probe_seconds_ - steps * medians_[best]);
  const double per_step = std::max(medians_[best], 1e-9);
  long interval = static_cast<long>(std::min(cost / (kBudget * per_step), double(kMaxInterval)));
  interval = std::clamp(interval, long(kMinInterval), long(kMaxInterval));
  if (candidates_[best] == chosen_) interval = std::max(interval, std::min(2 * interval_, long(kMaxInterval)));
  interval_ = interval;
  chosen_ = candidates_[best];
  ref_ = medians_[best];
  current_ = chosen_;
  probing_ = false;
  steps_ = 0;
  timed_.clear();
}

void ThreadTuner::record(double seconds) {
  if (candidates_.size() == 1) return;
  if (probing_) {
    probe_seconds_ += seconds;
    ++probe_steps_;
    // The best median of the candidates measured so far in this probe (0: none yet).
    double best = 0;
    for (std::size_t i = 0; i < candidate_; ++i)
      if (best == 0 || medians_[i] < best) best = medians_[i];
    if (best > 0 && seconds > (steps_ < kWarmup ? kAbandonWarmup : kAbandon) * best) {
      timed_.assign(1, seconds);  // dropped: this step stands for the count
    } else {
      if (++steps_ > kWarmup) timed_.push_back(seconds);
      if (int(timed_.size()) < kTimed) return;
    }
    medians_[candidate_] = median(timed_);
    timed_.clear();
    steps_ = 0;
    if (++candidate_ == candidates_.size())
      finish_probe();
    else
      current_ = candidates_[candidate_];
    return;
  }
  ++steps_;
  timed_.push_back(seconds);
  if (int(timed_.size()) > kWindow) timed_.erase(timed_.begin());
  if (int(timed_.size()) == kWindow) {
    const double m = median(timed_);
    if (m > ref_ * kDrift || m * kDrift < ref_) {
      start_probe();
      return;
    }
  }
  if (steps_ >= interval_) start_probe();
}

}  // namespace scratchcnn
