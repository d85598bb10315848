// Independent FMA chains for the FP32 peak probe (op_list.def: fma_chains; fast/peak.hpp), on the
// same xsimd architecture and flags as the other ops of this level, so peak fractions compare like
// with like.
#include "simd.hpp"  // first: see there

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {
namespace {

// 12 chains: FMA latency 4 cycles x 2 pipes on current x86 cores needs at least 8 in flight.
constexpr int kChains = 12;

}  // namespace

double fma_chains_flop(long iterations) {
  return 2.0 * static_cast<double>(kLanes) * kChains * static_cast<double>(iterations);
}

float fma_chains(long iterations, float seed) {
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = V(seed + 0.001f * static_cast<float>(i));
  // x * y stays near 1 so that the chains neither overflow nor go denormal.
  const V x(0.9999999f), y(1e-7f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = fmadd(acc[i], x, y);
  V s = acc[0];
  for (int i = 1; i < kChains; ++i) s += acc[i];
  return hsum(s);
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
