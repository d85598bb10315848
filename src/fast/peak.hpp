#pragma once

namespace scratchcnn::fast {

// Single-precision FMA throughput of the calling thread in GFLOP/s (2 FLOP per lane per FMA),
// measured with independent fused multiply-add chains (enough to cover the FMA latency) on the kernels'
// instruction set; the best of a few runs of about `seconds` in total.
double measure_fma_peak_gflops(double seconds = 0.2);

// Work of one call of fma_chains(): FLOP executed.
double fma_chains_flop(long iterations);

// Runs `iterations` steps of the independent FMA chains and returns a value that depends on all of
// them (so the work cannot be dropped).
float fma_chains(long iterations, float seed);

}  // namespace scratchcnn::fast
