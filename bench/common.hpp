#pragma once
// What every benchmark binary shares: one core's FMA peak measured at start-up, the counters a
// benchmark reports, and main(). Settings from the environment: bench_env.hpp.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_env.hpp"
#include "fast/peak.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace scratchcnn::bench {

// One core's FP32 FMA peak in GFLOP/s (fast/peak.hpp), measured once by run_main when asked to;
// the denominator of every peak_fraction counter.
inline double& peak_gflops() {
  static double peak = 0.0;
  return peak;
}

// The work a benchmark did over all its timed iterations.
struct Work {
  double flop = 0.0;          // floating-point operations in all
  std::int64_t items = -1;    // samples or images in all (items_per_second); < 0: not counted
  int threads = 0;            // the "threads" counter and the peak's multiple; 0: neither (one core)
  bool peak_fraction = true;  // report GFLOP/s / (max(threads, 1) x the one-core peak)
};

// GFLOP/s, and as `work` asks: items_per_second, peak_fraction, threads.
inline void set_counters(benchmark::State& state, const Work& work) {
  const double gflop = work.flop * 1e-9;
  if (work.items >= 0) state.SetItemsProcessed(work.items);
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  if (work.peak_fraction) {
    const int cores = work.threads > 0 ? work.threads : 1;
    state.counters["peak_fraction"] = benchmark::Counter(gflop / (peak_gflops() * cores), benchmark::Counter::kIsRate);
  }
  if (work.threads > 0) state.counters["threads"] = work.threads;
}

// main() of a benchmark binary: measures the one-core peak first when `measure_peak` (and records
// it as fma_peak_gflops_one_core), registers the benchmarks, reads the benchmark flags, records
// the fast kernels' instruction-set level and `context`, and runs.
inline int run_main(int argc, char** argv, bool measure_peak, const std::function<void()>& register_benchmarks,
                    const std::vector<std::pair<std::string, std::string>>& context = {}) {
  if (measure_peak) peak_gflops() = fast::measure_fma_peak_gflops(0.3);
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (measure_peak) benchmark::AddCustomContext("fma_peak_gflops_one_core", std::to_string(peak_gflops()));
  benchmark::AddCustomContext("isa", fast::isa_summary());
  for (const auto& [key, value] : context) benchmark::AddCustomContext(key, value);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace scratchcnn::bench
