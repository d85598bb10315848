// The reference path on its own: hand-computed forward examples and finite-difference gradient
// checks in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "scratchcnn/error.hpp"
#include "reference/network.hpp"
#include "scratchcnn/rng.hpp"

using namespace scratchcnn;
using namespace scratchcnn::reference;

namespace {

// A LayerInfo that says only the input shape (what a global pool reads).
LayerInfo info_in(Shape in) {
  LayerInfo i;
  i.in = in;
  return i;
}

Tensor<double> tensor(Shape s, std::vector<double> v) {
  Tensor<double> t(s);
  EXPECT_EQ(t.data.size(), v.size());
  t.data = std::move(v);
  return t;
}

// A module for one layer of `text` at input shape `in`, with the given parameters.
std::unique_ptr<Module<double>> module(const LayerSpec& l, const LayerParams& p) {
  return make_module<double>(l, LayerInfo{}, p);
}

LayerSpec conv(int in, int out, int k, int pad, int stride = 0) {
  return LayerSpec{LayerKind::Conv, in, out, k, pad, stride};
}

}  // namespace

TEST(ReferenceForward, ConvolutionWithPaddingSumsNeighbourhoods) {
  // 3x3 input, 3x3 kernel of ones, padding 1, bias 0.5: each output is the sum of the zero-padded
  // 3x3 neighbourhood plus the bias.
  LayerParams p{std::vector<float>(9, 1.0f), {0.5f}};
  auto m = module(conv(1, 1, 3, 1), p);
  const auto out = m->forward(tensor({1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const std::vector<double> want = {12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5};
  EXPECT_EQ(out.shape.str(), "1x3x3");
  EXPECT_EQ(out.data, want);
}

TEST(ReferenceForward, ConvolutionIsCrossCorrelationSummedOverChannels) {
  // Channel 0 with kernel [[1,2],[3,4]] (not flipped), channel 1 all ones with kernel of ones,
  // bias -1, no padding: out(i,j) = sum a(i+y,j+x) k(y,x) + 4 - 1.
  LayerParams p{{1, 2, 3, 4, 1, 1, 1, 1}, {-1}};
  auto m = module(conv(2, 1, 2, 0), p);
  const auto out = m->forward(tensor({2, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(out.data, (std::vector<double>{37 + 3, 47 + 3, 67 + 3, 77 + 3}));
}

TEST(ReferenceForward, MaxPoolPicksMaxAndFirstOnTies) {
  auto m = make_module<double>(LayerSpec{LayerKind::MaxPool, 0, 0, 2, 0}, LayerInfo{}, {});
  // Window 1 holds 5 twice (positions (0,1) and (1,0)): the first in row-major order wins.
  const auto out = m->forward(tensor({1, 2, 4}, {1, 5, 2, 3, 5, 0, 9, 4}));
  EXPECT_EQ(out.data, (std::vector<double>{5, 9}));
  const auto grad = m->backward(tensor({1, 1, 2}, {10, 20}));
  EXPECT_EQ(grad.data, (std::vector<double>{0, 10, 0, 0, 0, 0, 20, 0}));
}

TEST(ReferenceForward, FlattenIsChannelMajor) {
  auto m = make_module<double>(LayerSpec{LayerKind::Flatten}, LayerInfo{}, {});
  Tensor<double> x(Shape{2, 2, 3});
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 2; ++y)
      for (int xx = 0; xx < 3; ++xx) x.at(c, y, xx) = 100 * c + 10 * y + xx;
  const auto out = m->forward(x);
  EXPECT_TRUE(out.shape.flat);
  EXPECT_EQ(out.data, (std::vector<double>{0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112}));
  EXPECT_EQ(m->backward(out).shape.str(), "2x2x3");
}

TEST(ReferenceForward, DenseIsWeightsTimesInputPlusBias) {
  LayerParams p{{1, 2, 3, 4, 5, 6}, {0.5f, 0.25f, -1}};
  auto m = make_module<double>(LayerSpec{LayerKind::Dense, 2, 3}, LayerInfo{}, p);
  const auto out = m->forward(tensor({2, 1, 1, true}, {1, -2}));
  EXPECT_EQ(out.data, (std::vector<double>{1 - 4 + 0.5, 3 - 8 + 0.25, 5 - 12 - 1}));
  // Input gradient is the sum of the neurons' g * weights.
  const auto g = m->backward(tensor({3, 1, 1, true}, {1, 10, 100}));
  EXPECT_EQ(g.data, (std::vector<double>{1 + 30 + 500, 2 + 40 + 600}));
}

TEST(ReferenceForward, SigmoidAndReluDerivatives) {
  auto s = make_module<double>(LayerSpec{LayerKind::Sigmoid}, LayerInfo{}, {});
  const auto out = s->forward(tensor({2, 1, 1, true}, {0, std::log(3.0)}));
  EXPECT_DOUBLE_EQ(out.data[0], 0.5);
  EXPECT_DOUBLE_EQ(out.data[1], 0.75);
  const auto g = s->backward(tensor({2, 1, 1, true}, {1, 2}));
  EXPECT_DOUBLE_EQ(g.data[0], 0.25);
  EXPECT_DOUBLE_EQ(g.data[1], 2 * 0.75 * 0.25);

  auto t = make_module<double>(LayerSpec{LayerKind::Tanh}, LayerInfo{}, {});
  // tanh(ln 2) = 3/5 and tanh(-ln 3) = -4/5; the derivative is 1 - tanh^2.
  const auto tout = t->forward(tensor({2, 1, 1, true}, {std::log(2.0), -std::log(3.0)}));
  EXPECT_NEAR(tout.data[0], 0.6, 1e-15);
  EXPECT_NEAR(tout.data[1], -0.8, 1e-15);
  const auto tg = t->backward(tensor({2, 1, 1, true}, {1, 2}));
  EXPECT_NEAR(tg.data[0], 1 - 0.36, 1e-15);
  EXPECT_NEAR(tg.data[1], 2 * (1 - 0.64), 1e-15);

  auto r = make_module<double>(LayerSpec{LayerKind::ReLU}, LayerInfo{}, {});
  EXPECT_EQ(r->forward(tensor({3, 1, 1, true}, {-1, 0, 2})).data, (std::vector<double>{0, 0, 2}));
  // The derivative at exactly 0 is 0.
  EXPECT_EQ(r->backward(tensor({3, 1, 1, true}, {5, 5, 5})).data, (std::vector<double>{0, 0, 5}));
}

TEST(ReferenceForward, SoftmaxCrossEntropyDoesNotOverflow) {
  // log(e^-2 + e^-1 + 1) for the largest logit's class.
  const double want = std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
  Tensor<double> gd;
  EXPECT_NEAR(softmax_cross_entropy(tensor({3, 1, 1, true}, {1000, 1001, 1002}), 2, &gd), want,
              1e-14);
  EXPECT_NEAR(gd.data[2], 1 / (std::exp(-2.0) + std::exp(-1.0) + 1.0) - 1, 1e-14);
  Tensor<float> f(Shape{3, 1, 1, true}), gf;
  f.data = {1000, 1001, 1002};
  const float lf = softmax_cross_entropy(f, 0, &gf);
  EXPECT_TRUE(std::isfinite(lf));
  EXPECT_NEAR(lf, 2 + want, 1e-5);
  for (float v : gf.data) EXPECT_TRUE(std::isfinite(v));
  // Very spread logits: loss is large but finite.
  f.data = {-1e30f, 0, 1e30f};
  EXPECT_TRUE(std::isfinite(softmax_cross_entropy(f, 1, &gf)));
}

namespace {

double uniform_in(Rng& rng, double a) { return (2 * rng.uniform() - 1) * a; }

// The finite-difference criterion, per element: |analytic - numeric| <= 1e-6 * max(|analytic|,
// |numeric|) + 1e-9 (an absolute floor far below the gradients' size, for entries that are 0).
void expect_relatively_close(double analytic, double numeric, const std::string& what) {
  EXPECT_LE(std::abs(analytic - numeric), 1e-6 * std::max(std::abs(analytic), std::abs(numeric)) + 1e-9)
      << what << ": analytic " << analytic << ", numeric " << numeric;
}

// The scalar objective L = sum(r .* forward(x)) of one layer, for a fixed r.
struct LinearObjective {
  LayerSpec l;
  Tensor<double> r;
  double operator()(const Tensor<double>& x, const LayerParams& p) const {
    auto m = make_module<double>(l, info_in(x.shape), p);
    const Tensor<double> y = m->forward(x);
    double s = 0;
    for (std::size_t i = 0; i < y.data.size(); ++i) s += r.data[i] * y.data[i];
    return s;
  }
};

void check_input_gradient(const LinearObjective& L, const Tensor<double>& x, const LayerParams& p,
                          const Tensor<double>& gx) {
  const double eps = 1e-5;
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    Tensor<double> xp = x, xm = x;
    xp.data[i] += eps;
    xm.data[i] -= eps;
    expect_relatively_close(gx.data[i], (L(xp, p) - L(xm, p)) / (2 * eps),
                            L.l.text() + " input gradient " + std::to_string(i));
  }
}

// L is linear in every weight and bias (x fixed), so a central difference with a step exact in
// float gives the derivative without truncation error.
void check_parameter_gradient(const LinearObjective& L, const Tensor<double>& x, const LayerParams& p,
                              std::vector<float> LayerParams::*part, const std::vector<double>& analytic,
                              const std::string& what) {
  for (std::size_t i = 0; i < (p.*part).size(); ++i) {
    LayerParams pp = p, pm = p;
    const float step = 0.25f;
    (pp.*part)[i] += step;
    (pm.*part)[i] -= step;
    const double numeric = (L(x, pp) - L(x, pm)) / (double((pp.*part)[i]) - double((pm.*part)[i]));
    expect_relatively_close(analytic[i], numeric, L.l.text() + " " + what + " " + std::to_string(i));
  }
}

// Central-difference check of one module on the objective L above with a random r: the input
// gradient and, for modules with parameters, the mean parameter gradients. Weights and biases
// are uniform in [-1, 1], inputs in [-2, 2] at least kink_margin away from 0.
void check_module_gradients(const LayerSpec& l, Shape in, std::uint64_t seed,
                            double kink_margin = 0) {
  Rng rng(seed);
  LayerParams p;
  p.weights.resize(static_cast<std::size_t>(l.weight_count()));
  p.bias.resize(static_cast<std::size_t>(l.bias_count()));
  for (float& w : p.weights) w = static_cast<float>(uniform_in(rng, 1));
  for (float& b : p.bias) b = static_cast<float>(uniform_in(rng, 1));
  Tensor<double> x(in);
  for (double& v : x.data) {
    do v = uniform_in(rng, 2);
    while (std::abs(v) < kink_margin);
  }
  auto m = make_module<double>(l, info_in(in), p);
  LinearObjective L{l, m->forward(x)};
  for (double& v : L.r.data) v = uniform_in(rng, 1);
  const Tensor<double> gx = m->backward(L.r);
  std::vector<double> gw, gb;
  const bool has_params = m->mean_gradients(gw, gb);
  check_input_gradient(L, x, p, gx);
  if (!has_params) return;
  check_parameter_gradient(L, x, p, &LayerParams::weights, gw, "weight gradient");
  check_parameter_gradient(L, x, p, &LayerParams::bias, gb, "bias gradient");
}

}  // namespace

TEST(ReferenceGradients, ConvMatchesFiniteDifferences) {
  check_module_gradients(conv(1, 2, 3, 1), {1, 8, 8}, 1);
  check_module_gradients(conv(2, 4, 3, 1), {2, 8, 8}, 2);
  check_module_gradients(conv(3, 2, 2, 0), {3, 7, 5}, 3);
  check_module_gradients(conv(2, 3, 1, 0), {2, 4, 6}, 4);
  check_module_gradients(conv(1, 2, 3, 3), {1, 5, 4}, 5);
}

TEST(ReferenceGradients, StridedConvMatchesFiniteDifferences) {
  check_module_gradients(conv(2, 3, 3, 1, 2), {2, 8, 8}, 21);  // windows cover the padded input
  check_module_gradients(conv(3, 2, 3, 0, 2), {3, 8, 7}, 22);  // last row and column in no window
  check_module_gradients(conv(2, 2, 2, 1, 3), {2, 7, 9}, 23);  // stride > k: inputs skipped
  check_module_gradients(conv(1, 3, 1, 2, 2), {1, 5, 6}, 24);  // 1x1 kernel, wide padding
}

TEST(ReferenceForward, StridedConvolutionSamplesEveryStrideth) {
  // 1x5x5 holding 0..24, a 3x3 kernel of ones, stride 2, no padding: the window sums at (0, 0),
  // (0, 2), (2, 0), (2, 2) of the stride-1 output. Backward puts each output's gradient on its
  // window; the input gradient is the sum of the windows' shares.
  LayerParams p{std::vector<float>(9, 1.0f), {0.0f}};
  auto m = module(conv(1, 1, 3, 0, 2), p);
  Tensor<double> x(Shape{1, 5, 5, false});
  for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = double(i);
  EXPECT_EQ(m->forward(x).data, (std::vector<double>{54, 72, 144, 162}));
  EXPECT_EQ(m->backward(tensor({1, 2, 2, false}, {1, 2, 3, 4})).data,
            (std::vector<double>{1, 1, 3, 2, 2, 1, 1, 3, 2, 2, 4, 4, 10, 6, 6,  //
                                 3, 3, 7, 4, 4, 3, 3, 7, 4, 4}));
  // Padding 1 and stride 3 on a 1x6x6 input: floor((6 + 2 - 3) / 3) + 1 = 2 windows a side,
  // on padded rows and columns 0-2 and 3-5; input row and column 5 are in none and get gradient 0.
  auto s3 = module(conv(1, 1, 3, 1, 3), p);
  Tensor<double> x6(Shape{1, 6, 6, false});
  for (std::size_t i = 0; i < x6.data.size(); ++i) x6.data[i] = double(i);
  EXPECT_EQ(s3->forward(x6).data, (std::vector<double>{14, 36, 111, 189}));
  const auto g3 = s3->backward(tensor({1, 2, 2, false}, {1, 1, 1, 1})).data;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(g3[std::size_t(5 * 6 + i)], 0.0) << "row 5, column " << i;
    EXPECT_EQ(g3[std::size_t(i * 6 + 5)], 0.0) << "row " << i << ", column 5";
    EXPECT_EQ(g3[std::size_t(i * 6)], i < 5 ? 1.0 : 0.0) << "row " << i << ", column 0";
  }
}

TEST(ReferenceGradients, DenseMatchesFiniteDifferences) {
  check_module_gradients(LayerSpec{LayerKind::Dense, 7, 5}, {7, 1, 1, true}, 6);
}

TEST(ReferenceGradients, PointwiseAndPoolMatchFiniteDifferences) {
  check_module_gradients(LayerSpec{LayerKind::Sigmoid}, {3, 4, 5}, 7);
  check_module_gradients(LayerSpec{LayerKind::Tanh}, {3, 4, 5}, 13);
  check_module_gradients(LayerSpec{LayerKind::AvgPool, 0, 0, 2, 0, 2}, {3, 4, 6}, 15);
  check_module_gradients(LayerSpec{LayerKind::AvgPool, 0, 0, 3, 0, 1}, {2, 5, 6}, 16);  // overlapping
  check_module_gradients(LayerSpec{LayerKind::GlobalAvgPool}, {3, 4, 5}, 17);
  check_module_gradients(LayerSpec{LayerKind::ReLU}, {3, 4, 5}, 8, 1e-3);  // away from the kink
  check_module_gradients(LayerSpec{LayerKind::MaxPool, 0, 0, 2, 0}, {3, 4, 6}, 9);
  check_module_gradients(LayerSpec{LayerKind::Flatten}, {3, 4, 6}, 10);
}

namespace {

// True when no ReLU input of the sample is within `margin` of 0 and every max-pool window's
// largest value beats the others by more than `margin`: there the loss is smooth.
bool away_from_kinks(Model<double>& model, const Tensor<double>& x, const ModelSpec& spec,
                     double margin) {
  Tensor<double> v = x;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (l.kind == LayerKind::ReLU)
      for (double a : v.data)
        if (std::abs(a) < margin) return false;
    if (l.kind == LayerKind::MaxPool)
      for (int c = 0; c < v.shape.c; ++c)
        for (int wy = 0; wy < v.shape.h; wy += l.k)
          for (int wx = 0; wx < v.shape.w; wx += l.k) {
            double best = -1e300, second = -1e300;
            for (int y = wy; y < wy + l.k; ++y)
              for (int xx = wx; xx < wx + l.k; ++xx) {
                const double a = v.at(c, y, xx);
                if (a > best) {
                  second = best;
                  best = a;
                } else if (a > second) {
                  second = a;
                }
              }
            // A tie among zeros that a ReLU produced from inputs away from 0 stays a tie under
            // small perturbations: the loss is flat there, not kinked.
            if (best - second < margin && best > 0) return false;
          }
    v = model.modules()[i]->forward(v);
  }
  return true;
}

}  // namespace

// A model with nonzero biases (so that no pre-activation is exactly 0 where a whole input window
// is 0) and `samples` random inputs away from its kinks, with random labels.
struct ModelCase {
  Rng rng;  // first: the biases and then the samples come from it
  Model<double> model;
  std::vector<Tensor<double>> xs;
  std::vector<int> labels;

  static Parameters biased(const ModelSpec& spec, std::uint64_t seed, Rng& rng) {
    Parameters p = Parameters::he_uniform(spec, seed);
    for (auto& l : p.layers)
      for (float& b : l.bias) b = static_cast<float>(0.2 * (2 * rng.uniform() - 1));
    return p;
  }
  ModelCase(const ModelSpec& spec, int samples, std::uint64_t seed)
      : rng(seed * 7919 + 1), model(spec, biased(spec, seed, rng)) {
    while (static_cast<int>(xs.size()) < samples) {
      Tensor<double> x(spec.input);
      for (double& v : x.data) v = rng.uniform();
      if (!away_from_kinks(model, x, spec, 1e-3)) continue;
      xs.push_back(x);
      labels.push_back(static_cast<int>(rng.below(spec.classes())));
    }
  }
  double loss(std::size_t i) {
    return softmax_cross_entropy(model.forward(xs[i]), labels[i], static_cast<Tensor<double>*>(nullptr));
  }
  double mean_loss() {
    double s = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) s += loss(i);
    return s / double(xs.size());
  }
};

// The relative error of a central difference, with a floor of 1e-3 on the scale.
double relative_error(double numeric, double analytic) {
  return std::abs(numeric - analytic) / std::max({std::abs(numeric), std::abs(analytic), 1e-3});
}

// Every parameter against the mean loss; returns the worst relative error.
double check_model_parameter_gradients(ModelCase& mc, const ModelSpec& spec, double eps) {
  double worst = 0;
  int checked = 0;
  for (auto& m : mc.model.modules()) {
    std::vector<double> gw, gb;
    if (!m->mean_gradients(gw, gb)) continue;
    std::vector<double> analytic = gw;
    analytic.insert(analytic.end(), gb.begin(), gb.end());
    const std::vector<double*> params = m->parameter_pointers();
    EXPECT_EQ(params.size(), analytic.size());
    if (params.size() != analytic.size()) return worst;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const double keep = *params[i];
      *params[i] = keep + eps;
      const double up = mc.mean_loss();
      *params[i] = keep - eps;
      const double down = mc.mean_loss();
      *params[i] = keep;
      const double numeric = (up - down) / (2 * eps);
      const double err = relative_error(numeric, analytic[i]);
      worst = std::max(worst, err);
      ++checked;
      EXPECT_LE(err, 1e-6) << "parameter " << i << ": analytic " << analytic[i] << ", numeric "
                           << numeric;
    }
  }
  EXPECT_EQ(checked, spec.param_count());
  return worst;
}

// The input gradient of the first sample (the model's loss for sample 0 alone).
void check_model_input_gradient(ModelCase& mc, const std::vector<double>& grad_in0, double eps) {
  std::vector<double>& x0 = mc.xs[0].data;
  for (std::size_t i = 0; i < x0.size(); ++i) {
    const double keep = x0[i];
    x0[i] = keep + eps;
    const double up = mc.loss(0);
    x0[i] = keep - eps;
    const double down = mc.loss(0);
    x0[i] = keep;
    EXPECT_LE(relative_error((up - down) / (2 * eps), grad_in0[i]), 1e-6) << "input " << i;
  }
}

// The whole model: mean softmax cross-entropy of a few samples against every parameter and every
// input pixel, by central differences in double.
void check_model_gradients(const ModelSpec& spec, int samples, std::uint64_t seed) {
  ModelCase mc(spec, samples, seed);
  std::vector<std::vector<double>> grad_in;
  for (int i = 0; i < samples; ++i) {
    Tensor<double> g;
    softmax_cross_entropy(mc.model.forward(mc.xs[i]), mc.labels[i], &g);
    grad_in.push_back(mc.model.backward(g).data);
  }
  const double eps = 1e-5;
  const double worst = check_model_parameter_gradients(mc, spec, eps);
  check_model_input_gradient(mc, grad_in[0], eps);
  ::testing::Test::RecordProperty("worst_relative_error", std::to_string(worst));
}

TEST(ReferenceGradients, WholeSeedModelMatchesFiniteDifferences) {
  check_model_gradients(model_from_name("seed"), 3, 11);
}

TEST(ReferenceGradients, ModelWithSigmoidMatchesFiniteDifferences) {
  check_model_gradients(parse_model("conv(1,3,k=3) sigmoid maxpool(2) flatten dense(12,5) sigmoid dense(5,4)",
                                    Shape{1, 6, 6}),
                        2, 12);
}

TEST(ReferenceForward, AveragePools) {
  // 1x4x4 holding 0..15: 2x2 windows average to 2.5, 4.5, 10.5, 12.5; the global average is 7.5;
  // a 3x3 window moved by 1 (overlapping) to 5, 6, 9, 10. Backward spreads g / window size, and
  // where windows overlap the shares add up.
  Tensor<double> x(Shape{1, 4, 4, false});
  for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = double(i);
  auto a = make_module<double>(LayerSpec{LayerKind::AvgPool, 0, 0, 2, 0, 2}, info_in(x.shape), {});
  EXPECT_EQ(a->forward(x).data, (std::vector<double>{2.5, 4.5, 10.5, 12.5}));
  EXPECT_EQ(a->backward(tensor({1, 2, 2, false}, {4, 8, 12, 16})).data,
            (std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  auto gap = make_module<double>(LayerSpec{LayerKind::GlobalAvgPool}, info_in(x.shape), {});
  EXPECT_EQ(gap->forward(x).data, (std::vector<double>{7.5}));
  EXPECT_EQ(gap->backward(tensor({1, 1, 1, false}, {32})).data, std::vector<double>(16, 2.0));
  auto o = make_module<double>(LayerSpec{LayerKind::AvgPool, 0, 0, 3, 0, 1}, info_in(x.shape), {});
  EXPECT_EQ(o->forward(x).data, (std::vector<double>{5, 6, 9, 10}));
  EXPECT_EQ(o->backward(tensor({1, 2, 2, false}, {9, 9, 9, 9})).data,
            (std::vector<double>{1, 2, 2, 1, 2, 4, 4, 2, 2, 4, 4, 2, 1, 2, 2, 1}));
}

TEST(ReferenceGradients, ModelWithStridedConvsMatchesFiniteDifferences) {
  check_model_gradients(parse_model("conv(1,3,k=3,stride=2,pad=1) tanh conv(3,4,k=2,stride=2) tanh "
                                    "flatten dense(16,5) tanh dense(5,4)",
                                    Shape{1, 9, 9}),
                        2, 15);
}

TEST(ReferenceGradients, ModelWithTanhMatchesFiniteDifferences) {
  check_model_gradients(parse_model("conv(1,3,k=3) tanh maxpool(2) flatten dense(12,5) tanh dense(5,4)",
                                    Shape{1, 6, 6}),
                        2, 14);
}

TEST(ReferenceUpdate, AppliesTheMeanOfPerSampleGradients) {
  // Two samples through a 2->1 dense layer with g = 1: weight grads are the inputs, so the update
  // moves w by -lr * mean(inputs) and b by -lr * 1.
  LayerParams p{{1, 1}, {0}};
  auto m = make_module<double>(LayerSpec{LayerKind::Dense, 2, 1}, LayerInfo{}, p);
  for (const std::vector<double>& x : {std::vector<double>{2, 4}, std::vector<double>{6, 0}}) {
    m->forward(tensor({2, 1, 1, true}, x));
    m->backward(tensor({1, 1, 1, true}, {1}));
  }
  m->update(0.5);
  const LayerParams after = m->parameters();
  EXPECT_EQ(after.weights, (std::vector<float>{1 - 0.5f * 4, 1 - 0.5f * 2}));
  EXPECT_EQ(after.bias, (std::vector<float>{-0.5f}));
  // The lists were cleared: another update without samples changes nothing.
  m->update(0.5);
  EXPECT_EQ(m->parameters(), after);
}

TEST(ReferenceNetwork, NonFiniteLossThrowsAndLeavesParametersAlone) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 1);
  reference::Network<float> net(spec, p0);
  std::vector<float> images(64, 1.0f);
  images[5] = NAN;
  const int label = 3;
  try {
    net.train_step(Batch{images.data(), &label, 1}, 0.1f);
    ADD_FAILURE() << "NaN input trained without error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 0 has a non-finite input value (NaN) at index 5"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(net.parameters(), p0);
  images[5] = 0.5f;
  const int bad_label = 10;
  EXPECT_THROW(net.train_step(Batch{images.data(), &bad_label, 1}, 0.1f), Error);
  EXPECT_EQ(net.parameters(), p0);
  // After the refused steps a good one trains normally.
  net.train_step(Batch{images.data(), &label, 1}, 0.1f);
  EXPECT_NE(net.parameters(), p0);
}
