#pragma once
// The layer-parity harness every layer test calls: one layer of the reference path
// (src/reference) and of the fast path (fast::Layer, every convolution algorithm for a conv) on
// the same inputs and incoming gradients; their forward outputs, input gradients and mean
// parameter gradients are compared with one criterion:
//   Parity::Exact      small-integer inputs, weights and gradients make every sum exact in
//                      float (benchdnn's trick), so the fast path must give the float
//                      reference's values exactly (expect_equal_values), whatever order either
//                      side sums in; both take the mean as (exact sum) / float(n);
//   Parity::Tolerance  real values, float fast path against the double reference:
//                      max |fast - ref| <= 1e-5 * max(1, max |ref|) (expect_within_tolerance).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compare.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"

namespace scratchcnn::test {

struct LayerCase {
  LayerSpec spec;
  LayerInfo info;
  std::string name;
};

LayerCase conv_case(int cin, int cout, int k, int pad, int h, int w, int stride = 1);
// The convolution shapes every layer test covers: the seed and LeNet-5 convolutions, odd images,
// 1x1 and wide kernels, large padding, many channels, all-border windows, one output position,
// and strides 2 to 4 with and without padding (some leaving input rows and columns in no window).
std::vector<LayerCase> conv_cases();
LayerCase dense_case(int nin, int nout);
LayerCase pointwise_case(LayerKind kind, Shape s);  // relu, sigmoid, flatten
LayerCase pool_case(int k, Shape s);
LayerCase avgpool_case(int k, int stride, Shape s);
LayerCase gap_case(Shape s);

// Integers in [lo, hi], never 0 when nonzero is set (no ReLU input or gradient exactly at 0).
std::vector<float> ints(Rng& rng, std::size_t n, int lo, int hi, bool nonzero = false);
// Uniform in [lo, hi).
std::vector<float> reals(Rng& rng, std::size_t n, double lo, double hi);
// Max-pool inputs without ties: each window holds distinct integers in a random order.
std::vector<float> untied_pool_input(Rng& rng, const Shape& s, int k, int n);

// One path's results for a batch of n samples (the reference's converted to double).
struct LayerRun {
  std::vector<double> out, grad_in, mean_w, mean_b;
};
struct FastLayerRun {
  std::vector<float> out, grad_in, mean_w, mean_b;
};

// The reference module in T (float or double), one sample at a time: forward, then backward of
// the same sample; then the mean parameter gradients.
template <class T>
LayerRun run_reference(const LayerCase& c, const LayerParams& p, const std::vector<float>& x,
                       const std::vector<float>& g, int n);
// fast::Layer with the given convolution algorithm on the whole batch.
FastLayerRun run_fast(const LayerCase& c, const LayerParams& p, const std::vector<float>& x,
                      const std::vector<float>& g, int n, ConvAlgo algo);

// For a conv, each of Direct and Im2col that runs its shape (direct: stride 1 only); Auto for the
// other kinds.
std::vector<ConvAlgo> algos_for(const LayerCase& c);

enum class Parity { Exact, Tolerance };

// The harness: the reference (float for Exact, double for Tolerance) against the fast path with
// every algorithm of algos_for(c), comparing all four results by `mode`. Returns the fast runs.
std::vector<FastLayerRun> expect_layer_parity(const LayerCase& c, const LayerParams& p,
                                              const std::vector<float>& x,
                                              const std::vector<float>& g, int n, Parity mode);

// The harness on generated data: Exact with small integers (weights in [-2, 2], biases in
// [-3, 3], inputs in [-3, 3] (nonzero for ReLU, untied for max-pool), gradients in [-2, 2]);
// Tolerance with reals (He-uniform-sized weights, biases in [-0.5, 0.5], inputs in [-2, 2],
// gradients in [-1, 1]).
void check_layer_parity(const LayerCase& c, int n, std::uint64_t seed, Parity mode);

}  // namespace scratchcnn::test
