// Threads on a busy machine: whole training runs through train() (trainer.hpp), as the tool runs
// them, while `busy` other processes spin on the machine's cores:
//   BM_Threads/<model>/busy:<k>/threads:<t>   ThreadPolicy::Fixed, OpenMP set to t threads
//   BM_Threads/<model>/busy:<k>/adaptive      ThreadPolicy::Adaptive (the tool's default), at
//                                             most the largest t
// models and runs, each the tool's defaults for the model: seed, 10 epochs of 3,840 samples,
// batch 128, lr 0.1; lenet5, 1 epoch of 6,400 samples, batch 32, lr 0.05. Synthetic data
// (synthetic.hpp); the test set is 128 samples, so that its evaluation after each epoch costs
// little. k = 0, 1 and 2 busy processes (each a child spinning on the CPU, started before the
// timed loop and killed after it); t from SCRATCHCNN_BENCH_THREADS (default 1,2).
// Every iteration builds the network anew (untimed) and times the whole train() call, probes
// included: what a user's run pays. Counters: busy, threads (the mean thread count of the steps),
// items_per_second (training images).
// bench.sh runs it with --benchmark_enable_random_interleaving, so that the repetitions of the
// three settings alternate and a change in the machine's own load falls on all of them.
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "scratchcnn/trainer.hpp"
#include "synthetic.hpp"

namespace {

using namespace scratchcnn;

struct Run {
  const char* model;
  int samples, epochs, batch;
  float lr;
};
constexpr Run kRuns[] = {{"seed", 3840, 10, 128, 0.1f}, {"lenet5", 6400, 1, 32, 0.05f}};
constexpr int kTestSamples = 128;
constexpr std::uint64_t kInitSeed = 1;

// `n` child processes that spin until destroyed.
class Busy {
 public:
  explicit Busy(int n) {
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) {
        std::perror("bench_threads: fork");
        std::exit(1);
      }
      if (pid == 0) {
        volatile std::uint64_t x = 0;
        for (;;) x = x + 1;
      }
      pids_.push_back(pid);
    }
  }
  ~Busy() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  std::vector<pid_t> pids_;
};

struct Sets {
  ModelSpec spec;
  data::Dataset train, test;
};

const Sets& sets(const Run& r) {
  static std::vector<std::unique_ptr<Sets>> cache;
  for (const auto& s : cache)
    if (s->train.size() == r.samples && s->spec.full_text() == model_from_name(r.model).full_text()) return *s;
  auto s = std::make_unique<Sets>();
  s->spec = model_from_name(r.model);
  s->train = bench::as_dataset(s->spec, bench::synthesize(s->spec, r.samples));
  bench::Data test = bench::synthesize(s->spec, r.samples + kTestSamples);
  test.images.erase(test.images.begin(), test.images.begin() + std::ptrdiff_t(r.samples) * test.features);
  test.labels.erase(test.labels.begin(), test.labels.begin() + r.samples);
  s->test = bench::as_dataset(s->spec, std::move(test));
  cache.push_back(std::move(s));
  return *cache.back();
}

void bm_threads(benchmark::State& state, const Run& r, int busy, int threads, ThreadPolicy policy) {
  const Sets& d = sets(r);
  const Parameters p0 = Parameters::he_uniform(d.spec, kInitSeed);
  TrainOptions opt;
  opt.epochs = r.epochs;
  opt.batch = r.batch;
  opt.lr = r.lr;
  opt.thread_policy = policy;
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  Busy load(busy);
  double thread_sum = 0;
  std::int64_t epochs = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto net = make_network(PathKind::Fast, d.spec, p0);
    state.ResumeTiming();
    const auto history = train(*net, d.train, d.test, opt);
    for (const auto& e : history) thread_sum += e.threads;
    epochs += std::int64_t(history.size());
  }
  omp_set_num_threads(before);
  state.SetItemsProcessed(std::int64_t(state.iterations()) * r.samples * r.epochs);
  state.counters["busy"] = busy;
  state.counters["threads"] = epochs ? thread_sum / double(epochs) : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<int> counts = bench::env_threads({1, 2});
  const int most = *std::max_element(counts.begin(), counts.end());
  const auto register_all = [&] {
    for (const Run& r : kRuns)
      for (int busy : {0, 1, 2}) {
        const std::string base = std::string("BM_Threads/") + r.model + "/busy:" + std::to_string(busy);
        for (int t : counts)
          benchmark::RegisterBenchmark((base + "/threads:" + std::to_string(t)).c_str(),
                                       [&r, busy, t](benchmark::State& s) {
                                         bm_threads(s, r, busy, t, ThreadPolicy::Fixed);
                                       })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        benchmark::RegisterBenchmark((base + "/adaptive").c_str(),
                                     [&r, busy, most](benchmark::State& s) {
                                       bm_threads(s, r, busy, most, ThreadPolicy::Adaptive);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
  };
  return bench::run_main(argc, argv, /*measure_peak=*/false, register_all,
                         {{"adaptive_most_threads", std::to_string(most)}});
}
