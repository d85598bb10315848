// FP32 FMA peak probe for the benchmarks: fma_chains() runs on the active instruction-set level
// (isa.hpp), the same xsimd architecture and flags as the GEMM kernels, so peak fractions compare
// like with like.
#include "fast/peak.hpp"

#include <algorithm>
#include <chrono>

namespace scratchcnn::fast {

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
