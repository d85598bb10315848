#pragma once
// The adaptive thread count of train() (TrainOptions::thread_policy, trainer.hpp): which thread
// count the next training step runs on, chosen from the measured wall times of earlier steps.
// Bits never depend on it (the chunk and its reduction tree are the units of the arithmetic, not
// the thread), so the tuner is free to change the count at any step.
//
// How it chooses. A *probe* runs each candidate count (1..most, or 1, 2, 4, ... and most when
// most > 4) for kWarmup untimed steps (the team is made, caches are filled) and kTimed timed
// ones; the candidate with the lowest median step time wins, the fewer threads unless more are
// kPreferFewer faster (cores left to other processes cost nothing here). A candidate whose timed
// step takes kAbandon times the best median measured so far in the probe, or whose untimed step
// takes kAbandonWarmup times it (that one also pays for waking threads and touching their
// buffers), is dropped at once: on a loaded machine a step that waits for a descheduled thread
// costs a time slice (milliseconds), and one such step is proof enough. Then it *runs* on the
// winner, and probes again
//   - when the median of the last kWindow steps leaves [ref / kDrift, ref * kDrift], ref being
//     the winner's median in the probe (other processes came or went), or
//   - after `interval` steps: long enough that what the probe cost (its steps on the losing
//     counts, measured) stays under kBudget of the time spent; twice as long each time a probe
//     confirms the count it had, up to kMaxInterval steps.
// So on a machine whose load does not change a run pays one probe, and when another process takes
// a core the tuner leaves a count that waits for a descheduled thread within kWindow steps.
//
// Medians do not see a rare stall: with steps of 0.1 ms and one thread in three descheduled now
// and then, most steps on 2 threads are fast and one in a few dozen waits a whole time slice
// (milliseconds), so a count can win every probe and lose on average. So while it runs, the tuner
// also keeps the mean of the last kTail steps; when that mean is above the probe median of a
// count with fewer threads (by kPreferFewer), it moves to that count without probing (the stalls were the proof)
// and probes again after an interval that keeps what the stalls cost within kBudget.
//
// Better still is not to try a count that must stall. Where the caller can tell how many cores no
// other process is running on (`free_cores`, asked at the start of every probe), a probe measures
// only the counts up to that many: on a small run one step that waits a time slice can cost more
// than the whole run saves with a second thread. A probe so limited does not lengthen the
// interval to the next one, so a core that comes free is found within kMinInterval steps.
#include <functional>
#include <vector>

namespace scratchcnn {

// Cores that no other process is running on at this moment: the CPUs this process may use, less
// the kernel's count of running tasks (/proc/stat procs_running) that are not this process's own
// running threads. -1 where that count does not describe our CPUs: not Linux, or a CPU set
// smaller than the machine (a container's), where procs_running counts tasks on CPUs we cannot
// use. A snapshot: a process that runs for a moment counts as busy.
int free_cores_now();

class ThreadTuner {
 public:
  static constexpr int kWarmup = 1;           // untimed steps after each change of count
  static constexpr int kTimed = 3;            // timed steps per candidate in a probe
  static constexpr int kWindow = 8;           // the recent steps the drift test looks at
  static constexpr double kDrift = 1.3;       // a change of step time that starts a probe
  static constexpr double kPreferFewer = 1.03;  // more threads must be this much faster
  static constexpr double kAbandon = 1.5;     // a timed probe step this much slower drops its count
  static constexpr double kAbandonWarmup = 3;  // an untimed one this much slower
  static constexpr double kBudget = 0.02;     // of the run's time, at most, spent probing
  static constexpr int kMinInterval = 64;     // steps between probes, at least
  static constexpr int kMaxInterval = 8192;   // and at most
  static constexpr int kTail = 32;            // the recent steps whose mean the tail test takes

  // Candidates 1..most (most >= 1; 1: nothing to choose, threads() stays 1). free_cores, when
  // given: how many cores no other process runs on now (< 0: unknown, no limit).
  explicit ThreadTuner(int most, std::function<int()> free_cores = {});

  // The thread count for the next step.
  int threads() const { return current_; }
  // The wall time of the step just run on threads() threads. Steps of another size than the
  // usual one (the last, partial batch of an epoch) should not be reported.
  void record(double seconds);

  int most() const { return candidates_.back(); }
  int probes() const { return probes_; }  // probes started so far

 private:
  void start_probe();
  void finish_probe();
  // The tail test (above): true when it moved to a count with fewer threads.
  bool tail_test(double seconds);

  std::vector<int> candidates_;
  std::function<int()> free_cores_;
  std::vector<int> probe_set_;   // the candidates of the current probe (free_cores_ may limit them)
  std::vector<double> medians_;  // per candidate of the probe
  std::vector<double> timed_;    // this candidate's timed steps (probe) or the recent steps (run)
  bool probing_ = false;
  std::size_t candidate_ = 0;    // probing: the index in probe_set_ of the count being measured
  int steps_ = 0;                // steps on the current count (probe) or since the probe (run)
  int current_ = 1;
  int chosen_ = 0;               // the count the last probe chose (0 before the first)
  double ref_ = 0;               // its median step time in that probe
  int fewer_ = 0;                // the fastest count with fewer threads in that probe (0: none)
  double fewer_ref_ = 0;         // its median step time there
  std::vector<double> tail_;     // the last kTail step times of the run (a ring)
  double tail_sum_ = 0;
  double probe_seconds_ = 0;     // what the current probe has spent so far
  int probe_steps_ = 0;          // in this many steps
  long interval_ = kMinInterval;
  int probes_ = 0;
};

}  // namespace scratchcnn
