// The fast path against the reference (oracle) path, layer by layer through the parity harness
// (tests/support/parity.hpp, which documents the Exact and Tolerance criteria), and for whole
// networks over one training step with the same tolerance: max |a - b| <= 1e-5 * max(1, max |b|).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

#include "parity.hpp"
#include "fast/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/rng.hpp"

namespace {

using namespace scratchcnn;
using fast::ConvAlgo;

using test::check_layer_parity;
using test::conv_case;
using test::conv_cases;
using test::dense_case;
using test::expect_layer_parity;
using test::expect_within_tolerance;
using test::flat;
using test::ints;
using test::LayerCase;
using test::Parity;
using test::pointwise_case;
using test::avgpool_case;
using test::gap_case;
using test::pool_case;
using test::reals;

std::vector<LayerCase> other_cases() {
  return {
      dense_case(64, 32),  dense_case(32, 10),  dense_case(400, 120), dense_case(7, 5),
      dense_case(120, 84), dense_case(1, 33),
      pool_case(2, Shape{4, 8, 8, false}),   pool_case(2, Shape{6, 28, 28, false}),
      pool_case(3, Shape{3, 6, 9, false}),   pool_case(1, Shape{2, 3, 5, false}),
      avgpool_case(2, 2, Shape{6, 28, 28, false}), avgpool_case(3, 3, Shape{3, 6, 9, false}),
      avgpool_case(3, 1, Shape{2, 5, 7, false}),   avgpool_case(2, 1, Shape{4, 8, 8, false}),
      avgpool_case(3, 2, Shape{2, 7, 9, false}),   gap_case(Shape{16, 5, 5, false}),
      gap_case(Shape{3, 7, 5, false}),             gap_case(Shape{64, 1, 1, false}),
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
    for (int n : {1, 13, 35}) check_layer_parity(c, n, ++seed, Parity::Exact);
}

TEST_P(ExactParity, LargeConvolution) {
  // The benchmark shape 32 -> 64, 3x3 on 28x28, at a batch the reference can afford.
  check_layer_parity(conv_case(32, 64, 3, 1, 28, 28), 2, 7, Parity::Exact);
}

TEST_P(ExactParity, DensePoolReluFlatten) {
  std::uint64_t seed = 200;
  for (const LayerCase& c : other_cases())
    for (int n : {1, 13, 35}) check_layer_parity(c, n, ++seed, Parity::Exact);
}

TEST_P(ToleranceParity, EveryLayerKind) {
  std::uint64_t seed = 300;
  std::vector<LayerCase> cases = conv_cases();
  for (const LayerCase& c : other_cases()) cases.push_back(c);
  cases.push_back(pointwise_case(LayerKind::Sigmoid, Shape{3, 7, 5, false}));
  cases.push_back(pointwise_case(LayerKind::Sigmoid, Shape{84, 1, 1, true}));
  cases.push_back(pointwise_case(LayerKind::Tanh, Shape{3, 7, 5, false}));
  cases.push_back(pointwise_case(LayerKind::Tanh, Shape{84, 1, 1, true}));
  for (const LayerCase& c : cases)
    for (int n : {13, 35}) check_layer_parity(c, n, ++seed, Parity::Tolerance);
}

TEST_P(ToleranceParity, SigmoidSaturates) {
  // Large |x|: e^-x overflows to inf for x << 0, and the output must still be exactly 0 or 1-ish.
  LayerCase c = pointwise_case(LayerKind::Sigmoid, Shape{8, 1, 1, true});
  std::vector<float> x = {-200, -90, -20, -1, 1, 20, 90, 200};
  std::vector<float> g(8, 1.0f);
  for (const auto& f : expect_layer_parity(c, {}, x, g, 1, Parity::Tolerance))
    for (float v : f.out) EXPECT_TRUE(std::isfinite(v));
}

TEST_P(ToleranceParity, TanhSaturatesAndIsOddAcrossItsTwoFormulas) {
  // Both sides of 0.625 (where the fast path changes formula), tiny inputs, and large |x| where
  // e^(2|x|) overflows: finite, exactly +-1 at the ends, within tolerance of the oracle.
  LayerCase c = pointwise_case(LayerKind::Tanh, Shape{16, 1, 1, true});
  std::vector<float> x = {-200, -50, -9, -0.7f, -0.625f, -0.6249f, -1e-3f, -1e-30f,
                          1e-30f, 1e-3f, 0.6249f, 0.625f, 0.7f, 9, 50, 200};
  std::vector<float> g(16, 1.0f);
  for (const auto& f : expect_layer_parity(c, {}, x, g, 1, Parity::Tolerance)) {
    for (float v : f.out) EXPECT_TRUE(std::isfinite(v));
    EXPECT_EQ(f.out[0], -1.0f);
    EXPECT_EQ(f.out[15], 1.0f);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(f.out[std::size_t(i)], -f.out[std::size_t(15 - i)]) << i;
  }
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
  expect_within_tolerance(fg.layers[1].bias, mean_b, "mean softmax gradient");
}

// ---- whole networks -----------------------------------------------------------------------------

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
  expect_within_tolerance(flat(fg), flat(rg), "mean gradients");
  EXPECT_NEAR(fr.loss, rr.loss, 1e-5 * std::max(1.0, rr.loss));
  EXPECT_EQ(fr.correct, rr.correct);

  // Logits.
  std::vector<float> fl(std::size_t(n) * spec.classes()), rl(fl.size());
  net->predict(x, fl);
  ref.predict(x, rl);
  expect_within_tolerance(fl, rl, "logits");

  // One step: every exported parameter.
  const StepResult rs = ref.train_step(b, lr);
  const StepResult fs = net->train_step(b, lr);
  EXPECT_NEAR(fs.loss, rs.loss, 1e-5 * std::max(1.0, rs.loss));
  expect_within_tolerance(flat(net->parameters()), flat(ref.parameters()), "parameters after one step");
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

TEST_P(ToleranceParity, TanhModelOneStep) {
  check_step(parse_model("conv(2,3,k=3) tanh maxpool(2) flatten dense(12,7) tanh dense(7,4)",
                         Shape{2, 6, 6, false}),
             22, 3);
}

TEST_P(ToleranceParity, AveragePoolModelOneStep) {
  // LeNet-5 of 1998 in small: tanh and average pooling, then a global average pool.
  check_step(parse_model("conv(2,4,k=3,pad=1) tanh avgpool(2) conv(4,6,k=3) tanh avgpool(2,stride=1) gap flatten "
                         "dense(6,4)",
                         Shape{2, 8, 8, false}),
             23, 3);
}

TEST_P(ToleranceParity, StridedModelOneStep) {
  // Strided convolutions in place of pooling: stride 2 with padding (9 + 2 - 3 divisible by 2:
  // 9x9 -> 5x5), stride 2 without, leaving the last row and column in no window (5 - 2 is not:
  // 5x5 -> 2x2), then a stride-1 layer.
  const ModelSpec spec = parse_model(
      "conv(2,4,k=3,stride=2,pad=1) relu conv(4,6,k=2,stride=2) relu conv(6,5,k=1) tanh flatten "
      "dense(20,4)",
      Shape{2, 9, 9, false});
  ASSERT_EQ(spec.info[2].out.str(), "6x2x2");
  for (ConvAlgo a : {ConvAlgo::Auto, ConvAlgo::Im2col}) {
    SCOPED_TRACE(conv_algo_name(a));
    check_step(spec, 24, 3, fast::Options{a, true});
  }
}

TEST_P(ExactParity, TiesFollowTheRule) {
  // Max-pool windows full of equal values and ReLU inputs at exactly 0: the gradient goes to the
  // first maximum in row-major order, and ReLU's derivative at 0 is 0, in both paths.
  LayerCase pool = pool_case(2, Shape{2, 4, 6, false});
  const int n = 3;
  Rng rng(5);
  const std::vector<float> x = ints(rng, n * std::size_t(pool.info.in.size()), 0, 1);
  const std::vector<float> g = ints(rng, n * std::size_t(pool.info.out.size()), 1, 3);
  expect_layer_parity(pool, {}, x, g, n, Parity::Exact);

  LayerCase relu = pointwise_case(LayerKind::ReLU, Shape{5, 3, 3, false});
  const std::vector<float> xr = ints(rng, n * std::size_t(relu.info.in.size()), -1, 1);
  const std::vector<float> gr = ints(rng, xr.size(), 1, 3);
  expect_layer_parity(relu, {}, xr, gr, n, Parity::Exact);
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
  ASSERT_EQ(test::run_reference<float>(conv, pc, xc, gc, 1).out[0], double(want));
  expect_layer_parity(conv, pc, xc, gc, 1, Parity::Exact);  // direct and im2col

  LayerCase dense = dense_case(2, 1);
  LayerParams pd;
  pd.weights = {e, e};
  pd.bias = {1.0f};
  const std::vector<float> xd = {e, e}, gd = {0.0f};
  ASSERT_EQ(test::run_reference<float>(dense, pd, xd, gd, 1).out[0], double(want));
  expect_layer_parity(dense, pd, xd, gd, 1, Parity::Exact);
}

}  // namespace
