// Machine limits that the other benchmarks are judged against: FP32 FMA peak with independent
// fused multiply-add chains (fast/peak.hpp, the GEMM kernels' instruction set) on one core and on
// all cores (OpenMP), and memory bandwidth (STREAM-style triad a = b + s * c on arrays far larger
// than the caches), one thread and all threads.
#include <cstddef>
#include <vector>

#include <benchmark/benchmark.h>
#include <omp.h>

#include "common.hpp"
#include "fast/peak.hpp"

namespace {

constexpr long kFmaIterations = 1L << 20;

void BM_FmaPeakOneCore(benchmark::State& state) {
  float sink = 0.0f;
  for (auto _ : state) sink += scratchcnn::fast::fma_chains(kFmaIterations, 1.0f);
  benchmark::DoNotOptimize(sink);
  scratchcnn::bench::set_counters(
      state, {.flop = double(state.iterations()) * scratchcnn::fast::fma_chains_flop(kFmaIterations),
              .peak_fraction = false});
}
BENCHMARK(BM_FmaPeakOneCore)->Unit(benchmark::kMillisecond);

void BM_FmaPeakAllCores(benchmark::State& state) {
  const int threads = omp_get_max_threads();
  std::vector<float> sinks(static_cast<std::size_t>(threads) * 16, 0.0f);  // one cache line each
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      sinks[static_cast<std::size_t>(t) * 16] += scratchcnn::fast::fma_chains(kFmaIterations, 1.0f);
    }
  }
  benchmark::DoNotOptimize(sinks.data());
  scratchcnn::bench::set_counters(
      state, {.flop = double(state.iterations()) * threads * scratchcnn::fast::fma_chains_flop(kFmaIterations),
              .threads = threads,
              .peak_fraction = false});
}
BENCHMARK(BM_FmaPeakAllCores)->Unit(benchmark::kMillisecond)->UseRealTime();

// 3 arrays of 32 Mi floats (384 MiB in all): well beyond the 32 MiB L3.
constexpr std::size_t kTriadLength = std::size_t{1} << 25;

void triad(benchmark::State& state, int threads) {
  std::vector<float> a(kTriadLength), b(kTriadLength, 1.0f), c(kTriadLength, 2.0f);
  const long n = static_cast<long>(kTriadLength);
  // First touch by the same static schedule that the timed loop uses (NUMA placement).
#pragma omp parallel for schedule(static) num_threads(threads)
  for (long i = 0; i < n; ++i) a[static_cast<std::size_t>(i)] = 0.0f;
  const float s = 3.0f;
  for (auto _ : state) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; ++i) {
      const std::size_t j = static_cast<std::size_t>(i);
      a[j] = b[j] + s * c[j];
    }
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.counters["threads"] = threads;
  // 2 loads + 1 store per element; write-allocate traffic is not counted (STREAM convention).
  state.counters["GB/s"] = benchmark::Counter(3.0 * sizeof(float) * static_cast<double>(kTriadLength) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TriadOneThread(benchmark::State& state) { triad(state, 1); }
BENCHMARK(BM_TriadOneThread)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TriadAllThreads(benchmark::State& state) { triad(state, omp_get_max_threads()); }
BENCHMARK(BM_TriadAllThreads)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return scratchcnn::bench::run_main(argc, argv, /*measure_peak=*/false, [] {});
}
