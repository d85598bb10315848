// The fast path against the reference (oracle) path.
//   Exact: small-integer inputs, weights and incoming gradients make every sum exact in float
//   (benchdnn's trick), so each layer's output, input gradient and mean parameter gradients must be
//   equal bit for bit, whatever order either side sums in. Both sides take the mean as
//   (exact sum) / float(n).
//   Tolerance: random real values, float fast path vs the double reference:
//   max |a - b| <= 1e-5 * max(1, max |b|), per layer and for one full training step.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

#include "fast/layer.hpp"
#include "fast/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/rng.hpp"

namespace {

using namespace scratchcnn;
using fast::ConvAlgo;

// ---- layer cases --------------------------------------------------------------------------------

struct LayerCase {
  LayerSpec spec;
  LayerInfo info;
  std::string name;
};

LayerCase conv_case(int cin, int cout, int k, int pad, int h, int w) {
  LayerCase c;
  c.spec.kind = LayerKind::Conv;
  c.spec.in = cin;
  c.spec.out = cout;
  c.spec.k = k;
  c.spec.pad = pad;
  c.info.in = Shape{cin, h, w, false};
  c.info.out = Shape{cout, h + 2 * pad - k + 1, w + 2 * pad - k + 1, false};
  c.name = c.spec.text() + " on " + c.info.in.str();
  return c;
}

LayerCase dense_case(int nin, int nout) {
  LayerCase c;
  c.spec.kind = LayerKind::Dense;
  c.spec.in = nin;
  c.spec.out = nout;
  c.info.in = Shape{nin, 1, 1, true};
  c.info.out = Shape{nout, 1, 1, true};
  c.name = c.spec.text();
  return c;
}

LayerCase pointwise_case(LayerKind kind, Shape s) {
  LayerCase c;
  c.spec.kind = kind;
  c.info.in = s;
  c.info.out = s;
  if (kind == LayerKind::Flatten) c.info.out = Shape{int(s.size()), 1, 1, true};
  c.name = c.spec.text() + " on " + s.str();
  return c;
}

LayerCase pool_case(int k, Shape s) {
  LayerCase c;
  c.spec.kind = LayerKind::MaxPool;
  c.spec.k = k;
  c.info.in = s;
  c.info.out = Shape{s.c, s.h / k, s.w / k, false};
  c.name = c.spec.text() + " on " + s.str();
  return c;
}

std::size_t weight_count(const LayerSpec& l) { return static_cast<std::size_t>(l.weight_count()); }

// Integers in [lo, hi], never 0 when nonzero is set (no ReLU input or gradient exactly at 0).
std::vector<float> ints(Rng& rng, std::size_t n, int lo, int hi, bool nonzero = false) {
  std::vector<float> v(n);
  for (auto& x : v) {
    int r;
    do r = lo + int(rng.below(std::uint64_t(hi - lo + 1)));
    while (nonzero && r == 0);
    x = float(r);
  }
  return v;
}

std::vector<float> reals(Rng& rng, std::size_t n, double lo, double hi) {
  std::vector<float> v(n);
  for (auto& x : v) x = float(lo + (hi - lo) * rng.uniform());
  return v;
}

// Max-pool inputs without ties: each window holds distinct integers in a random order.
std::vector<float> untied_pool_input(Rng& rng, const Shape& s, int k, int n) {
  std::vector<float> v(std::size_t(n) * s.size());
  for (int b = 0; b < n; ++b)
    for (int c = 0; c < s.c; ++c)
      for (int oy = 0; oy < s.h / k; ++oy)
        for (int ox = 0; ox < s.w / k; ++ox) {
          std::vector<int> vals(std::size_t(k) * k);
          for (std::size_t i = 0; i < vals.size(); ++i) vals[i] = int(i) - int(vals.size() / 2);
          for (std::size_t i = vals.size(); i > 1; --i) std::swap(vals[i - 1], vals[rng.below(i)]);
          for (int dy = 0; dy < k; ++dy)
            for (int dx = 0; dx < k; ++dx)
              v[std::size_t(b) * s.size() + (std::size_t(c) * s.h + oy * k + dy) * s.w + ox * k + dx] =
                  float(vals[std::size_t(dy) * k + dx]);
        }
  return v;
}

template <class T>
struct RefResult {
  std::vector<double> out, grad_in, mean_w, mean_b;
};

// The reference module, one sample at a time: forward, then backward of the same sample.
template <class T>
RefResult<T> run_reference(const LayerCase& c, const LayerParams& p, const std::vector<float>& x,
                           const std::vector<float>& g, int n) {
  auto m = reference::make_module<T>(c.spec, c.info, p);
  RefResult<T> r;
  const std::size_t fi = std::size_t(c.info.in.size()), fo = std::size_t(c.info.out.size());
  for (int s = 0; s < n; ++s) {
    reference::Tensor<T> t(c.info.in);
    for (std::size_t i = 0; i < fi; ++i) t.data[i] = T(x[s * fi + i]);
    const reference::Tensor<T> out = m->forward(t);
    for (T v : out.data) r.out.push_back(double(v));
    reference::Tensor<T> gt(c.info.out);
    for (std::size_t i = 0; i < fo; ++i) gt.data[i] = T(g[s * fo + i]);
    const reference::Tensor<T> gi = m->backward(gt);
    for (T v : gi.data) r.grad_in.push_back(double(v));
  }
  std::vector<T> w, b;
  if (m->mean_gradients(w, b)) {
    for (T v : w) r.mean_w.push_back(double(v));
    for (T v : b) r.mean_b.push_back(double(v));
  }
  return r;
}

struct FastResult {
  std::vector<float> out, grad_in, mean_w, mean_b;
};

FastResult run_fast(const LayerCase& c, const LayerParams& p, const std::vector<float>& x,
                    const std::vector<float>& g, int n, ConvAlgo algo) {
  fast::Layer layer(c.spec, c.info, p, algo);
  FastResult r;
  r.out = layer.forward(x.data(), n);
  r.grad_in = layer.backward(g.data());
  const LayerParams m = layer.mean_gradients();
  r.mean_w = m.weights;
  r.mean_b = m.bias;
  return r;
}

// Bit-for-bit equality (as floats: +0 == -0), reporting the first mismatch.
void expect_exact(const std::vector<float>& fast, const std::vector<double>& ref,
                  const std::string& what) {
  ASSERT_EQ(fast.size(), ref.size()) << what;
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < fast.size(); ++i)
    if (!(fast[i] == float(ref[i])) && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << fast.size() << " differ; first at " << first
                     << ": fast " << fast[first] << " vs reference " << ref[first];
}

// max |a - b| <= tol * max(1, max |b|).
void expect_close(const std::vector<float>& fast, const std::vector<double>& ref,
                  const std::string& what, double tol = 1e-5) {
  ASSERT_EQ(fast.size(), ref.size()) << what;
  double scale = 1, err = 0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) scale = std::max(scale, std::abs(ref[i]));
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double e = std::abs(double(fast[i]) - ref[i]);
    if (!(e <= err)) {
      err = e;
      worst = i;
    }
  }
  EXPECT_LE(err, tol * scale) << what << ": max error " << err << " at " << worst << " (fast "
                              << (fast.empty() ? 0.0f : fast[worst]) << ", reference "
                              << (ref.empty() ? 0.0 : ref[worst]) << "), scale " << scale;
}

std::vector<ConvAlgo> algos_for(const LayerCase& c) {
  if (c.spec.kind == LayerKind::Conv) return {ConvAlgo::Direct, ConvAlgo::Im2col};
  return {ConvAlgo::Auto};
}

// Exact parity of one layer at one batch size, for every algorithm it has.
void check_exact(const LayerCase& c, int n, std::uint64_t seed) {
  Rng rng(seed);
  LayerParams p;
  p.weights = ints(rng, weight_count(c.spec), -2, 2);
  if (c.spec.has_params()) p.bias = ints(rng, std::size_t(c.spec.out), -3, 3);
  const std::size_t fi = std::size_t(c.info.in.size()), fo = std::size_t(c.info.out.size());
  const std::vector<float> x = c.spec.kind == LayerKind::MaxPool
                                   ? untied_pool_input(rng, c.info.in, c.spec.k, n)
                                   : ints(rng, n * fi, -3, 3, c.spec.kind == LayerKind::ReLU);
  const std::vector<float> g = ints(rng, n * fo, -2, 2);
  const RefResult<float> ref = run_reference<float>(c, p, x, g, n);
  for (ConvAlgo a : algos_for(c)) {
    SCOPED_TRACE(c.name + ", batch " + std::to_string(n) + ", " + conv_algo_name(a));
    const FastResult f = run_fast(c, p, x, g, n, a);
    expect_exact(f.out, ref.out, "forward");
    expect_exact(f.grad_in, ref.grad_in, "input gradient");
    expect_exact(f.mean_w, ref.mean_w, "mean weight gradient");
    expect_exact(f.mean_b, ref.mean_b, "mean bias gradient");
  }
}

// Tolerance parity of one layer against the double reference on real values.
void check_close(const LayerCase& c, int n, std::uint64_t seed) {
  Rng rng(seed);
  LayerParams p;
  if (c.spec.has_params()) {
    const int fan_in = c.spec.kind == LayerKind::Conv ? c.spec.in * c.spec.k * c.spec.k : c.spec.in;
    const double bound = std::sqrt(6.0 / fan_in);
    p.weights = reals(rng, weight_count(c.spec), -bound, bound);
    p.bias = reals(rng, std::size_t(c.spec.out), -0.5, 0.5);
  }
  const std::size_t fi = std::size_t(c.info.in.size()), fo = std::size_t(c.info.out.size());
  const std::vector<float> x = reals(rng, n * fi, -2, 2);
  const std::vector<float> g = reals(rng, n * fo, -1, 1);
  const RefResult<double> ref = run_reference<double>(c, p, x, g, n);
  for (ConvAlgo a : algos_for(c)) {
    SCOPED_TRACE(c.name + ", batch " + std::to_string(n) + ", " + conv_algo_name(a));
    const FastResult f = run_fast(c, p, x, g, n, a);
    expect_close(f.out, ref.out, "forward");
    expect_close(f.grad_in, ref.grad_in, "input gradient");
    expect_close(f.mean_w, ref.mean_w, "mean weight gradient");
    expect_close(f.mean_b, ref.mean_b, "mean bias gradient");
  }
}

std::vector<LayerCase> conv_cases() {
  return {
      conv_case(1, 2, 3, 1, 8, 8),    // seed conv 1
      conv_case(2, 4, 3, 1, 8, 8),    // seed conv 2
      conv_case(3, 4, 3, 1, 7, 5),    // odd image
      conv_case(3, 5, 1, 0, 7, 5),    // 1x1 kernel
      conv_case(3, 2, 3, 3, 7, 5),    // padding larger than needed
      conv_case(2, 3, 5, 0, 7, 9),    // kernel wider than the block
      conv_case(1, 6, 5, 2, 28, 28),  // lenet5 conv 1
      conv_case(6, 16, 5, 0, 14, 14), // lenet5 conv 2
      conv_case(20, 36, 3, 1, 6, 11), // many channels, remainder blocks
      conv_case(2, 3, 5, 4, 3, 2),    // image smaller than the kernel: every window in the border
      conv_case(3, 2, 3, 0, 3, 3),    // a single output position
  };
}

std::vector<LayerCase> other_cases() {
  return {
      dense_case(64, 32),  dense_case(32, 10),  dense_case(400, 120), dense_case(7, 5),
      dense_case(120, 84), dense_case(1, 33),
      pool_case(2, Shape{4, 8, 8, false}),   pool_case(2, Shape{6, 28, 28, false}),
      pool_case(3, Shape{3, 6, 9, false}),   pool_case(1, Shape{2, 3, 5, false}),
      pointwise_case(LayerKind::ReLU, Shape{3, 7, 5, false}),
      pointwise_case(LayerKind::ReLU, Shape{32, 1, 1, true}),
      pointwise_case(LayerKind::Flatten, Shape{4, 4, 4, false}),
      pointwise_case(LayerKind::Flatten, Shape{3, 7, 5, false}),
  };
}

class ExactParity : public scratchcnn::test::IsaTest {};
SCRATCHCNN_TEST_EVERY_ISA(ExactParity);
class ToleranceParity : public scratchcnn::test::IsaTest {};
SCRATCHCNN_TEST_EVERY_ISA(ToleranceParity);

TEST_P(ExactParity, Convolutions) {
  std::uint64_t seed = 100;
  for (const LayerCase& c : conv_cases())
    for (int n : {1, 13, 35}) check_exact(c, n, ++seed);
}

TEST_P(ExactParity, LargeConvolution) {
  // The benchmark shape 32 -> 64, 3x3 on 28x28, at a batch the reference can afford.
  check_exact(conv_case(32, 64, 3, 1, 28, 28), 2, 7);
}

TEST_P(ExactParity, DensePoolReluFlatten) {
  std::uint64_t seed = 200;
  for (const LayerCase& c : other_cases())
    for (int n : {1, 13, 35}) check_exact(c, n, ++seed);
}

TEST_P(ToleranceParity, EveryLayerKind) {
  std::uint64_t seed = 300;
  std::vector<LayerCase> cases = conv_cases();
  for (const LayerCase& c : other_cases()) cases.push_back(c);
  cases.push_back(pointwise_case(LayerKind::Sigmoid, Shape{3, 7, 5, false}));
  cases.push_back(pointwise_case(LayerKind::Sigmoid, Shape{84, 1, 1, true}));
  for (const LayerCase& c : cases)
    for (int n : {13, 35}) check_close(c, n, ++seed);
}

TEST_P(ToleranceParity, SigmoidSaturates) {
  // Large |x|: e^-x overflows to inf for x << 0, and the output must still be exactly 0 or 1-ish.
  LayerCase c = pointwise_case(LayerKind::Sigmoid, Shape{8, 1, 1, true});
  std::vector<float> x = {-200, -90, -20, -1, 1, 20, 90, 200};
  std::vector<float> g(8, 1.0f);
  const RefResult<double> ref = run_reference<double>(c, {}, x, g, 1);
  const FastResult f = run_fast(c, {}, x, g, 1, ConvAlgo::Auto);
  expect_close(f.out, ref.out, "forward");
  expect_close(f.grad_in, ref.grad_in, "input gradient");
  for (float v : f.out) EXPECT_TRUE(std::isfinite(v));
}

// ---- softmax cross-entropy ----------------------------------------------------------------------

// The fast loss and gradient through a one-dense-layer network's gradients(): the dense layer is
// the identity (weights = I, bias = 0), so the logits are the inputs.
TEST_P(ToleranceParity, SoftmaxCrossEntropy) {
  const int classes = 10, n = 37;
  const ModelSpec spec = parse_model("flatten dense(10,10)", Shape{10, 1, 1, false});
  Parameters p = Parameters::zeros(spec);
  for (int i = 0; i < classes; ++i) p.layers[1].weights[std::size_t(i) * classes + i] = 1.0f;
  Rng rng(11);
  std::vector<float> x = reals(rng, std::size_t(n) * classes, -30, 30);
  // A few extreme rows: huge spreads must not give inf or NaN.
  for (int j = 0; j < classes; ++j) {
    x[j] = j == 3 ? 1e30f : -1e30f;
    x[classes + j] = float(j) * 1e4f;
  }
  std::vector<int> labels(n);
  for (int s = 0; s < n; ++s) labels[s] = int(rng.below(classes));
  labels[0] = 0;  // the worst case: the label's logit is 2e30 below the largest

  auto net = fast::make_network(spec, p);
  StepResult fr;
  const Parameters fg = net->gradients(Batch{x.data(), labels.data(), n}, &fr);
  ASSERT_TRUE(std::isfinite(fr.loss));

  double loss = 0;
  int correct = 0;
  std::vector<double> mean_b(classes, 0.0);
  for (int s = 0; s < n; ++s) {
    reference::Tensor<double> z(Shape{classes, 1, 1, true}), grad;
    for (int j = 0; j < classes; ++j) z.data[j] = x[std::size_t(s) * classes + j];
    loss += reference::softmax_cross_entropy(z, labels[s], &grad);
    for (int j = 0; j < classes; ++j) mean_b[j] += grad.data[j];
    if (std::max_element(z.data.begin(), z.data.end()) - z.data.begin() == labels[s]) ++correct;
  }
  for (double& v : mean_b) v /= n;
  loss /= n;
  EXPECT_NEAR(fr.loss, loss, 1e-5 * std::max(1.0, std::abs(loss)));
  EXPECT_EQ(fr.correct, correct);
  // The bias gradient of the identity layer is the mean of p - onehot.
  expect_close(fg.layers[1].bias, mean_b, "mean softmax gradient");
}

// ---- whole networks -----------------------------------------------------------------------------

std::vector<double> flat(const Parameters& p) {
  std::vector<double> v;
  for (const auto& l : p.layers) {
    for (float x : l.weights) v.push_back(x);
    for (float x : l.bias) v.push_back(x);
  }
  return v;
}
std::vector<float> flatf(const Parameters& p) {
  std::vector<float> v;
  for (const auto& l : p.layers) {
    v.insert(v.end(), l.weights.begin(), l.weights.end());
    v.insert(v.end(), l.bias.begin(), l.bias.end());
  }
  return v;
}

void check_step(const ModelSpec& spec, int n, std::uint64_t seed, fast::Options opt = {}) {
  const Parameters p0 = Parameters::he_uniform(spec, seed);
  Rng rng(seed + 1);
  const std::vector<float> x = reals(rng, std::size_t(n) * spec.input.size(), 0, 1);
  std::vector<int> labels(n);
  for (int& l : labels) l = int(rng.below(std::uint64_t(spec.classes())));
  const Batch b{x.data(), labels.data(), n};
  const float lr = 0.1f;

  reference::Network<double> ref(spec, p0);
  auto net = fast::make_network(spec, p0, opt);

  // Mean gradients without updating.
  StepResult rr, fr;
  const Parameters rg = ref.gradients(b, &rr);
  const Parameters fg = net->gradients(b, &fr);
  expect_close(flatf(fg), flat(rg), "mean gradients");
  EXPECT_NEAR(fr.loss, rr.loss, 1e-5 * std::max(1.0, rr.loss));
  EXPECT_EQ(fr.correct, rr.correct);

  // Logits.
  std::vector<float> fl(std::size_t(n) * spec.classes()), rl(fl.size());
  net->predict(x, fl);
  ref.predict(x, rl);
  expect_close(fl, std::vector<double>(rl.begin(), rl.end()), "logits");

  // One step: every exported parameter.
  const StepResult rs = ref.train_step(b, lr);
  const StepResult fs = net->train_step(b, lr);
  EXPECT_NEAR(fs.loss, rs.loss, 1e-5 * std::max(1.0, rs.loss));
  expect_close(flatf(net->parameters()), flat(ref.parameters()), "parameters after one step");
}

TEST_P(ToleranceParity, SeedModelOneStep) {
  const ModelSpec spec = model_from_name("seed");
  for (int n : {128, 13, 1}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    check_step(spec, n, 42 + std::uint64_t(n));
  }
}

TEST_P(ToleranceParity, SeedModelEveryOption) {
  const ModelSpec spec = model_from_name("seed");
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2col})
    for (bool fuse : {false, true}) {
      SCOPED_TRACE(std::string(conv_algo_name(a)) + (fuse ? " fused" : " unfused"));
      check_step(spec, 40, 9, fast::Options{a, fuse});
    }
}

TEST_P(ToleranceParity, Lenet5OneStep) {
  check_step(model_from_name("lenet5"), 20, 5);
}

TEST_P(ToleranceParity, SigmoidModelOneStep) {
  check_step(parse_model("conv(2,3,k=3) sigmoid maxpool(2) flatten dense(12,7) sigmoid dense(7,4)",
                         Shape{2, 6, 6, false}),
             21, 3);
}

TEST_P(ExactParity, TiesFollowTheRule) {
  // Max-pool windows full of equal values and ReLU inputs at exactly 0: the gradient goes to the
  // first maximum in row-major order, and ReLU's derivative at 0 is 0, in both paths.
  LayerCase pool = pool_case(2, Shape{2, 4, 6, false});
  const int n = 3;
  Rng rng(5);
  const std::vector<float> x = ints(rng, n * std::size_t(pool.info.in.size()), 0, 1);
  const std::vector<float> g = ints(rng, n * std::size_t(pool.info.out.size()), 1, 3);
  const RefResult<float> ref = run_reference<float>(pool, {}, x, g, n);
  const FastResult f = run_fast(pool, {}, x, g, n, ConvAlgo::Auto);
  expect_exact(f.out, ref.out, "max-pool forward");
  expect_exact(f.grad_in, ref.grad_in, "max-pool input gradient");

  LayerCase relu = pointwise_case(LayerKind::ReLU, Shape{5, 3, 3, false});
  const std::vector<float> xr = ints(rng, n * std::size_t(relu.info.in.size()), -1, 1);
  const std::vector<float> gr = ints(rng, xr.size(), 1, 3);
  const RefResult<float> rr = run_reference<float>(relu, {}, xr, gr, n);
  const FastResult fr = run_fast(relu, {}, xr, gr, n, ConvAlgo::Auto);
  expect_exact(fr.out, rr.out, "relu forward");
  expect_exact(fr.grad_in, rr.grad_in, "relu input gradient");
}

}  // namespace

namespace {

TEST_P(ExactParity, BiasIsAddedAfterTheSum) {
  // The convention of both paths: out = (sum of products) + bias. Two products of 2^-24 and a bias
  // of 1: summed first they give 2^-23 and 1 + 2^-23; added to the bias one by one, each rounds
  // away (1 + 2^-24 is a tie, rounded to even) and the output is 1.
  const float e = 0x1p-12f;
  const float want = 1.0f + 0x1p-23f;
  LayerCase conv = conv_case(1, 1, 3, 0, 3, 3);
  LayerParams pc;
  pc.weights.assign(9, 0.0f);
  pc.weights[0] = pc.weights[1] = e;
  pc.bias = {1.0f};
  std::vector<float> xc(9, 0.0f);
  xc[0] = xc[1] = e;
  const std::vector<float> gc(1, 0.0f);
  const RefResult<float> rc = run_reference<float>(conv, pc, xc, gc, 1);
  ASSERT_EQ(rc.out[0], double(want));
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2col}) {
    SCOPED_TRACE(conv_algo_name(a));
    expect_exact(run_fast(conv, pc, xc, gc, 1, a).out, rc.out, "conv forward");
  }

  LayerCase dense = dense_case(2, 1);
  LayerParams pd;
  pd.weights = {e, e};
  pd.bias = {1.0f};
  const std::vector<float> xd = {e, e}, gd = {0.0f};
  const RefResult<float> rd = run_reference<float>(dense, pd, xd, gd, 1);
  ASSERT_EQ(rd.out[0], double(want));
  expect_exact(run_fast(dense, pd, xd, gd, 1, ConvAlgo::Auto).out, rd.out, "dense forward");
}

}  // namespace
