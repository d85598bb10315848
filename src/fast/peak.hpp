#pragma once

#include "fast/ops/ops.hpp"

namespace scratchcnn::fast {

// Single-precision FMA throughput of the calling thread in GFLOP/s (2 FLOP per lane per FMA),
// measured with independent fused multiply-add chains (enough to cover the FMA latency) on the ops'
// instruction set; the best of a few runs of about `seconds` in total.
double measure_fma_peak_gflops(double seconds = 0.2);

// The probe itself, on the active level (op_list.def), for the peak benchmarks.
using ops::fma_chains;
using ops::fma_chains_flop;

}  // namespace scratchcnn::fast
