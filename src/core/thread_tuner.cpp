// The adaptive thread count of train() (thread_tuner.hpp).
#include "core/thread_tuner.hpp"

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>

#ifdef __linux__
#include <dirent.h>
#include <sched.h>
#include <unistd.h>
#endif

namespace scratchcnn {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int free_cores_now() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  const int allowed = CPU_COUNT(&set);
  if (allowed < 1 || long(allowed) != sysconf(_SC_NPROCESSORS_ONLN)) return -1;
  std::ifstream stat("/proc/stat");
  std::string key;
  long running = -1;
  while (stat >> key) {
    if (key == "procs_running") {
      stat >> running;
      break;
    }
    stat.ignore(1 << 20, '\n');
  }
  if (running < 1) return -1;
  // This process's running threads (this one among them): the state after the ")" of each
  // thread's stat line.
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return -1;
  long own = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream t(std::string("/proc/self/task/") + e->d_name + "/stat");
    std::string line;
    std::getline(t, line);
    const auto paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'R') ++own;
  }
  closedir(dir);
  return int(std::max(0L, allowed - std::max(0L, running - own)));
#else
  return -1;
#endif
}

ThreadTuner::ThreadTuner(int most, std::function<int()> free_cores) : free_cores_(std::move(free_cores)) {
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
  const int free = free_cores_ ? free_cores_() : -1;
  probe_set_.clear();
  for (int c : candidates_)
    if (free < 0 || c <= std::max(1, free)) probe_set_.push_back(c);
  medians_.assign(probe_set_.size(), 0.0);
  probe_seconds_ = 0;
  probe_steps_ = 0;
  current_ = probe_set_[0];
  ++probes_;
}

void ThreadTuner::finish_probe() {
  std::size_t best = 0;
  for (std::size_t i = 1; i < probe_set_.size(); ++i)
    if (medians_[i] * kPreferFewer < medians_[best]) best = i;
  // What the probe cost beyond running all its steps on the winner.
  const double steps = double(probe_steps_);
  const double cost = std::max(0.0, probe_seconds_ - steps * medians_[best]);
  const double per_step = std::max(medians_[best], 1e-9);
  long interval = static_cast<long>(std::min(cost / (kBudget * per_step), double(kMaxInterval)));
  interval = std::clamp(interval, long(kMinInterval), long(kMaxInterval));
  if (probe_set_.size() < candidates_.size())
    interval = kMinInterval;  // limited by free cores: look again soon
  else if (probe_set_[best] == chosen_)
    interval = std::max(interval, std::min(2 * interval_, long(kMaxInterval)));
  interval_ = interval;
  chosen_ = probe_set_[best];
  ref_ = medians_[best];
  fewer_ = 0;
  for (std::size_t i = 0; i < best; ++i)
    if (fewer_ == 0 || medians_[i] < fewer_ref_) {
      fewer_ = probe_set_[i];
      fewer_ref_ = medians_[i];
    }
  tail_.clear();
  tail_sum_ = 0;
  current_ = chosen_;
  probing_ = false;
  steps_ = 0;
  timed_.clear();
}

bool ThreadTuner::tail_test(double seconds) {
  if (fewer_ == 0) return false;
  if (tail_.size() < std::size_t(kTail)) {
    tail_.push_back(seconds);
  } else {
    double& oldest = tail_[std::size_t(steps_ - 1) % std::size_t(kTail)];
    tail_sum_ -= oldest;
    oldest = seconds;
  }
  tail_sum_ += seconds;
  // The same margin as a probe's (kPreferFewer): step times are skewed, so equal means would
  // otherwise tip towards the fewer count.
  if (tail_.size() < std::size_t(kTail) || tail_sum_ <= kTail * fewer_ref_ * kPreferFewer) return false;
  // Steps on the fewer count would have been faster: go there, as if a probe had chosen it, and
  // probe again no sooner than the budget allows for what the stalls cost. (Not later: one long
  // hiccup of a noisy machine can pass this test too, and then the fewer count is the loss.)
  const double cost = tail_sum_ - kTail * fewer_ref_;
  const double by_cost = std::min(cost / (kBudget * std::max(fewer_ref_, 1e-9)), double(kMaxInterval));
  interval_ = std::clamp(static_cast<long>(by_cost), long(kMinInterval), long(kMaxInterval));
  chosen_ = current_ = fewer_;
  ref_ = fewer_ref_;
  fewer_ = 0;
  steps_ = 0;
  timed_.clear();
  tail_.clear();
  tail_sum_ = 0;
  return true;
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
    if (++candidate_ == probe_set_.size())
      finish_probe();
    else
      current_ = probe_set_[candidate_];
    return;
  }
  ++steps_;
  if (tail_test(seconds)) return;
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
