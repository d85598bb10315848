// Independent FMA chains for the FP32 peak probe (peak.hpp), on the same xsimd architecture and
// flags as the GEMM kernels of this level, so peak fractions compare like with like.
// First: it silences a g++ 12 false positive inside the intrinsics headers it includes.
#include "simd.hpp"  // xsimd

#include "dispatch.hpp"

namespace scratchcnn::fast::SCRATCHCNN_ISA_NS {
namespace {

using batch = xsimd::batch<float, xsimd::default_arch>;
// 12 chains: FMA latency 4 cycles x 2 pipes on current x86 cores needs at least 8 in flight.
constexpr int kChains = 12;

}  // namespace

double fma_chains_flop(long iterations) {
  return 2.0 * static_cast<double>(batch::size) * kChains * static_cast<double>(iterations);
}

float fma_chains(long iterations, float seed) {
  batch acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = batch(seed + 0.001f * static_cast<float>(i));
  // x * y stays near 1 so that the chains neither overflow nor go denormal.
  const batch x(0.9999999f), y(1e-7f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = detail::fmadd(acc[i], x, y);
  batch s = acc[0];
  for (int i = 1; i < kChains; ++i) s += acc[i];
  return detail::hsum(s);
}

}  // namespace scratchcnn::fast::SCRATCHCNN_ISA_NS
