// FP32 FMA peak probe for the benchmarks: it uses the same xsimd architecture and flags as the
// GEMM kernels, so peak_fraction compares like with like.
#include "scratchcnn/fast/peak.hpp"

#include <algorithm>
#include <array>
#include <chrono>

#include <xsimd/xsimd.hpp>

#include "gemm_kernel_fma.hpp"

namespace scratchcnn::fast {
namespace {

using batch = xsimd::batch<float, xsimd::default_arch>;
// 12 chains: FMA latency 4 cycles x 2 pipes on current x86 cores needs at least 8 in flight.
constexpr int kChains = 12;

}  // namespace

double fma_chains_flop(long iterations) {
  return 2.0 * static_cast<double>(batch::size) * kChains * static_cast<double>(iterations);
}

float fma_chains(long iterations, float seed) {
  std::array<batch, kChains> acc;
  for (int i = 0; i < kChains; ++i) acc[i] = batch(seed + 0.001f * static_cast<float>(i));
  // x * y stays near 1 so that the chains neither overflow nor go denormal.
  const batch x(0.9999999f), y(1e-7f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = detail::fmadd(acc[i], x, y);
  batch s = acc[0];
  for (int i = 1; i < kChains; ++i) s += acc[i];
  return xsimd::hadd(s);
}

double measure_fma_peak_gflops(double seconds) {
  using clock = std::chrono::steady_clock;
  long iterations = 1 << 16;
  double best = 0.0;
  float sink = 0.0f;
  // Grow the run until one lasts ~seconds/8, then keep the best of the remaining runs.
  const auto start = clock::now();
  while (std::chrono::duration<double>(clock::now() - start).count() < seconds) {
    const auto t0 = clock::now();
    sink += fma_chains(iterations, 1.0f + sink * 1e-30f);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0.0) best = std::max(best, fma_chains_flop(iterations) / dt * 1e-9);
    if (dt < seconds / 8) iterations *= 2;
  }
  return sink == 12345.0f ? best + 1e-9 : best;
}

}  // namespace scratchcnn::fast
