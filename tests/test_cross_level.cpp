// One set of bits at every FMA level: the same computation run under fast::set_isa(level) for
// each level with fused multiply-add that this CPU runs (avx512f and avx2) must give the same
// float bit patterns (uint32 compare: -0 != +0, NaN payloads count). Each test reports the first
// differing index, both values and their bits, so a break is located, not just detected:
//   EveryLayerBothDirections  every layer kind through the parity harness's fast::Layer
//                             (tests/support/parity.hpp), direct and im2col, batches 13, 35, 128;
//   WholeSteps                gradients, 5 steps with momentum and weight decay, parameters,
//                             velocities and logits of whole networks;
//   Origin300Steps            the origin run (seed model, optdigits, batch 128, lr 0.1, seed 1)
//                             for at least 300 steps, parameters compared after every epoch;
//   Lenet5Steps               LeNet-5 trained on random data, both convolution algorithms.
// A CPU with fewer than two such levels skips, naming the levels it runs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compare.hpp"
#include "parity.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "scratchcnn/sgd.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

namespace {

using namespace scratchcnn;
using test::flat;
using test::LayerCase;
using test::reals;
using test::same_bits;

// The levels that promise the same bits, in the order they are run (the first is the baseline).
const std::vector<std::string> kFmaLevels = {"avx512f", "avx2"};

std::vector<std::string> fma_levels_here() {
  std::vector<std::string> out;
  const std::vector<std::string> here = fast::supported_isas();
  for (const std::string& l : kFmaLevels)
    if (std::find(here.begin(), here.end(), l) != here.end()) out.push_back(l);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

// Named results of one run at one level.
using Results = std::vector<std::pair<std::string, std::vector<float>>>;

// Runs every test at each FMA level this CPU runs and restores the level it found.
class CrossLevel : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = fast::active_isa();
    levels_ = fma_levels_here();
    if (levels_.size() < 2)
      GTEST_SKIP() << "needs two of the FMA levels (" << join(kFmaLevels)
                   << "); this CPU runs: " << join(fast::supported_isas())
                   << " (FMA levels among them: " << join(levels_) << ")";
  }
  void TearDown() override {
    if (!previous_.empty()) fast::set_isa(previous_);
  }

  // f() under set_isa(level) for every level, in order.
  template <class F>
  auto at_each_level(F f) {
    std::vector<decltype(f())> out;
    for (const std::string& l : levels_) {
      fast::set_isa(l);
      out.push_back(f());
    }
    return out;
  }

  // Every named result of every level against the first level's; returns whether all matched.
  bool expect_same(const std::vector<Results>& runs) {
    bool ok = true;
    for (std::size_t k = 1; k < runs.size(); ++k) {
      EXPECT_EQ(runs[k].size(), runs[0].size());
      for (std::size_t i = 0; i < std::min(runs[0].size(), runs[k].size()); ++i) {
        const auto r = same_bits(runs[0][i].second, runs[k][i].second, levels_[0], levels_[k]);
        EXPECT_TRUE(r) << runs[0][i].first;
        ok = ok && bool(r);
      }
    }
    return ok;
  }

  std::vector<std::string> levels_;

 private:
  std::string previous_;
};

// ---- (a) every layer kind, both directions -----------------------------------------------------

std::vector<LayerCase> layer_cases() {
  using test::conv_case;
  using test::dense_case;
  using test::pointwise_case;
  using test::pool_case;
  using test::avgpool_case;
  using test::gap_case;
  std::vector<LayerCase> cases = test::conv_cases();
  cases.insert(cases.end(), {
      conv_case(32, 64, 3, 1, 28, 28),  // 32 -> 64
      dense_case(64, 32),
      dense_case(32, 10),
      dense_case(400, 120),
      dense_case(7, 5),
      dense_case(120, 84),
      dense_case(1, 33),
      pool_case(2, Shape{4, 8, 8, false}),
      pool_case(2, Shape{6, 28, 28, false}),
      pool_case(3, Shape{3, 6, 9, false}),
      pool_case(1, Shape{2, 3, 5, false}),
      pointwise_case(LayerKind::ReLU, Shape{3, 7, 5, false}),
      pointwise_case(LayerKind::ReLU, Shape{32, 1, 1, true}),
      pointwise_case(LayerKind::Sigmoid, Shape{3, 7, 5, false}),
      pointwise_case(LayerKind::Sigmoid, Shape{84, 1, 1, true}),
      avgpool_case(2, 2, Shape{6, 28, 28, false}),
      avgpool_case(3, 1, Shape{2, 5, 7, false}),
      gap_case(Shape{16, 5, 5, false}),
      pointwise_case(LayerKind::Tanh, Shape{3, 7, 5, false}),
      pointwise_case(LayerKind::Tanh, Shape{84, 1, 1, true}),
      pointwise_case(LayerKind::Flatten, Shape{4, 4, 4, false}),
      pointwise_case(LayerKind::Flatten, Shape{3, 7, 5, false}),
  });
  return cases;
}

TEST_F(CrossLevel, EveryLayerBothDirections) {
  std::uint64_t seed = 100;
  for (const LayerCase& c : layer_cases())
    for (int n : {13, 35, 128}) {
      // Real values (integers would make every sum exact and hide the rounding): He-uniform
      // weights, biases in [-0.5, 0.5], inputs in [-4, 4] (sigmoid and ReLU both sides), incoming
      // gradients in [-1, 1].
      Rng rng(++seed);
      LayerParams p;
      if (c.spec.has_params()) {
        const double bound = std::sqrt(6.0 / double(c.spec.fan_in()));
        p.weights = reals(rng, std::size_t(c.spec.weight_count()), -bound, bound);
        p.bias = reals(rng, std::size_t(c.spec.out), -0.5, 0.5);
      }
      const std::vector<float> x = reals(rng, std::size_t(n) * c.info.in.size(), -4, 4);
      const std::vector<float> g = reals(rng, std::size_t(n) * c.info.out.size(), -1, 1);
      for (ConvAlgo algo : test::algos_for(c)) {
        SCOPED_TRACE(c.name + ", batch " + std::to_string(n) + ", " + conv_algo_name(algo));
        expect_same(at_each_level([&] {
          const test::FastLayerRun r = test::run_fast(c, p, x, g, n, algo);
          return Results{{"forward", r.out},
                         {"input gradient", r.grad_in},
                         {"mean weight gradient", r.mean_w},
                         {"mean bias gradient", r.mean_b}};
        }));
      }
    }
}

// ---- (b) whole steps ----------------------------------------------------------------------------

struct StepCase {
  std::string name;
  ModelSpec spec;
  ConvAlgo algo;
};

std::vector<StepCase> step_cases() {
  const ModelSpec seed = model_from_name("seed"), lenet5 = model_from_name("lenet5");
  const ModelSpec sigmoid =
      parse_model("conv(2,3,k=3) sigmoid maxpool(2) flatten dense(12,7) sigmoid dense(7,4)",
                  Shape{2, 6, 6, false});
  const ModelSpec tanh_model =
      parse_model("conv(2,3,k=3) tanh maxpool(2) flatten dense(12,7) tanh dense(7,4)", Shape{2, 6, 6, false});
  // One dense layer, whose own kernels give the same bits at every level (EveryLayerBothDirections):
  // a difference there comes from the softmax cross-entropy alone.
  const ModelSpec softmax = parse_model("flatten dense(64,10)");
  const ModelSpec dropout = parse_model(
      "conv(1,4,k=3,pad=1) relu dropout(0.25) maxpool(2) flatten dense(64,16) relu dropout(0.5) dense(16,10)");
  // Batch norm per channel and per feature: its statistics and gradient sums are scalar code.
  const ModelSpec batchnorm = parse_model(
      "conv(1,4,k=3,pad=1) batchnorm relu maxpool(2) flatten dense(64,16) batchnorm tanh dense(16,10)");
  // Strided convolutions (im2col: direct runs stride 1 only), with and without padding.
  const ModelSpec strided = parse_model(
      "conv(1,4,k=3,stride=2,pad=1) relu conv(4,8,k=3,stride=2) relu flatten dense(72,10)",
      Shape{1, 16, 16, false});
  return {{"softmax only: flatten dense(64,10)", softmax, ConvAlgo::Auto},
          {"dropout model", dropout, ConvAlgo::Auto},
          {"seed, direct", seed, ConvAlgo::Direct},     {"seed, im2col", seed, ConvAlgo::Im2col},
          {"lenet5, direct", lenet5, ConvAlgo::Direct}, {"lenet5, im2col", lenet5, ConvAlgo::Im2col},
          {"sigmoid model", sigmoid, ConvAlgo::Auto},     {"tanh model", tanh_model, ConvAlgo::Auto},
          {"strided model", strided, ConvAlgo::Auto},     {"batch norm model", batchnorm, ConvAlgo::Auto}};
}

TEST_F(CrossLevel, WholeSteps) {
  const int n = 40;  // two full chunks and a partial one
  Sgd adam;
  adam.lr = 1e-3f;
  adam.weight_decay = 5e-4f;
  adam.optimizer = Optimizer::Adam;
  adam.seed = 3;  // dropout's masks
  Sgd momentum{0.05f, 0.9f, 5e-4f};
  momentum.seed = 4;
  for (const Sgd& sgd : {momentum, adam})
  for (const StepCase& c : step_cases()) {
    SCOPED_TRACE(c.name + ", " + (is_adam(sgd.optimizer) ? "adam" : "sgd"));
    const Parameters p0 = Parameters::he_uniform(c.spec, 7);
    Rng rng(8);
    std::vector<std::vector<float>> images;
    std::vector<std::vector<int>> labels;
    for (int s = 0; s < 6; ++s) {  // one batch for gradients(), then five steps
      images.push_back(reals(rng, std::size_t(n) * c.spec.input.size(), 0, 1));
      labels.emplace_back(std::size_t(n));
      for (int& l : labels.back()) l = int(rng.below(std::uint64_t(c.spec.classes())));
    }
    std::vector<std::vector<double>> losses;
    std::vector<std::vector<int>> correct;
    const auto runs = at_each_level([&] {
      auto net = make_network(PathKind::Fast, c.spec, p0, NetworkOptions{c.algo});
      Results r;
      std::vector<double> loss;
      std::vector<int> right;
      StepResult g0;
      r.push_back({"gradients()", flat(net->gradients(Batch{images[0].data(), labels[0].data(), n}, &g0))});
      loss.push_back(g0.loss);
      right.push_back(g0.correct);
      for (int s = 1; s <= 5; ++s) {
        Sgd rule = sgd;
        rule.step = s;
        const StepResult sr = net->sgd_step(Batch{images[s].data(), labels[s].data(), n}, rule);
        loss.push_back(sr.loss);
        right.push_back(sr.correct);
        r.push_back({"parameters after step " + std::to_string(s), flat(net->parameters())});
        r.push_back({"velocities after step " + std::to_string(s), flat(net->velocity())});
        r.push_back({"second moments after step " + std::to_string(s), flat(net->second_moment())});
      }
      std::vector<float> logits(std::size_t(n) * c.spec.classes());
      net->predict(images[0], logits);
      r.push_back({"logits", logits});
      losses.push_back(loss);
      correct.push_back(right);
      return r;
    });
    expect_same(runs);
    for (std::size_t k = 1; k < losses.size(); ++k)
      for (std::size_t s = 0; s < losses[0].size(); ++s) {
        EXPECT_TRUE(same_bits(losses[0][s], losses[k][s], levels_[0], levels_[k]))
            << (s == 0 ? std::string("gradients() loss") : "loss of step " + std::to_string(s));
        EXPECT_EQ(correct[0][s], correct[k][s]) << "correct count, step " << s;
      }
  }
}

// ---- (c), (d) trained runs, parameters after every epoch -----------------------------------------

// The parameters (and the epoch's mean loss bits) after every epoch of each level's run against
// the first level's; stops at the first epoch that differs, naming it.
void expect_same_epochs(const std::vector<std::string>& levels,
                        const std::vector<std::vector<std::vector<float>>>& params,
                        const std::vector<std::vector<EpochMetrics>>& metrics) {
  for (std::size_t k = 1; k < params.size(); ++k) {
    ASSERT_EQ(params[k].size(), params[0].size());
    for (std::size_t e = 0; e < params[0].size(); ++e) {
      const auto r = same_bits(params[0][e], params[k][e], levels[0], levels[k]);
      const auto rl = same_bits(metrics[0][e].loss, metrics[k][e].loss, levels[0], levels[k]);
      EXPECT_TRUE(r) << "parameters after epoch " << e + 1 << " of " << params[0].size();
      EXPECT_TRUE(rl) << "mean training loss of epoch " << e + 1;
      if (!r) break;  // everything after the first differing epoch differs too
    }
  }
}

class CrossLevelRuns : public CrossLevel {
 protected:
  // Trains a fresh fast network from He-uniform(opt.seed) parameters at each level.
  void train_and_compare(const ModelSpec& spec, const data::Dataset& train_set,
                         const data::Dataset& test_set, const TrainOptions& opt) {
    std::vector<std::vector<std::vector<float>>> params;
    std::vector<std::vector<EpochMetrics>> metrics;
    const Parameters p0 = Parameters::he_uniform(spec, opt.seed);
    for (const std::string& l : levels_) {
      fast::set_isa(l);
      auto net = make_network(PathKind::Fast, spec, p0, NetworkOptions{opt.conv});
      params.emplace_back();
      metrics.push_back(train(*net, train_set, test_set, opt, {},
                              [&](const EpochMetrics&) { params.back().push_back(flat(net->parameters())); }));
    }
    expect_same_epochs(levels_, params, metrics);
  }
};

TEST_F(CrossLevelRuns, Origin300Steps) {
  const std::string dir = test::optdigits_dir();
  ASSERT_FALSE(dir.empty());
  const data::Split split = data::load_data_dir(dir, 1);
  TrainOptions opt;  // batch 128, lr 0.1, seed 1, plain SGD
  const int batches = (split.train.size() + opt.batch - 1) / opt.batch;
  opt.epochs = (300 + batches - 1) / batches;  // 10 on the full UCI split (30 batches an epoch)
  std::cout << "data: " << dir << ", " << split.train.size() << " training rows, " << opt.epochs
            << " epochs of " << batches << " steps\n";
  train_and_compare(model_from_name("seed"), split.train, split.test, opt);
}

TEST_F(CrossLevelRuns, Lenet5Steps) {
  const ModelSpec spec = model_from_name("lenet5");
  const auto random_set = [&](std::uint64_t seed, int n) {
    return test::random_dataset(seed, n, spec.input, spec.classes());
  };
  const data::Dataset train_set = random_set(21, 213), test_set = random_set(22, 50);
  TrainOptions opt;
  opt.batch = 64;  // 4 steps an epoch (the last one of 21 samples), 12 steps
  opt.epochs = 3;
  opt.lr = 0.05f;
  opt.momentum = 0.9f;
  for (ConvAlgo algo : {ConvAlgo::Direct, ConvAlgo::Im2col}) {
    SCOPED_TRACE(conv_algo_name(algo));
    opt.conv = algo;
    train_and_compare(spec, train_set, test_set, opt);
  }
}

}  // namespace
