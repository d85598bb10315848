// Batch norm (LayerKind::BatchNorm, "batchnorm"): the model text and parameters, files holding the
// running statistics, the reference module's batch statistics, finite differences of the whole
// training loss in double (batch statistics included), the fast path against the double oracle
// (gradients, steps, running statistics, evaluation logits), fast::Layer against the module, the
// one-value-per-channel refusal, and a bit-for-bit resume through the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "checkpoint_bytes.hpp"
#include "compare.hpp"
#include "core/batchnorm.hpp"
#include "fast/layer.hpp"
#include "fast/layout.hpp"
#include "fast/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

// Per channel after conv, per feature after dense.
constexpr const char* kModel =
    "conv(1,4,k=3,pad=1) batchnorm relu maxpool(2) flatten dense(64,16) batchnorm tanh dense(16,10)";

// He weights with every batch norm's scale, shift and running statistics drawn away from 1, 0, 0, 1.
Parameters random_bn_parameters(const ModelSpec& spec, std::uint64_t seed) {
  Parameters p = Parameters::he_uniform(spec, seed);
  Rng rng(seed + 100);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    if (spec.layers[i].kind != LayerKind::BatchNorm) continue;
    LayerParams& l = p.layers[i];
    const std::size_t c = l.weights.size();
    for (std::size_t j = 0; j < c; ++j) {
      l.weights[j] = float(0.5 + rng.uniform());
      l.bias[j] = float(rng.uniform() - 0.5);
      l.running[j] = float(rng.uniform() - 0.5);
      l.running[c + j] = float(0.5 + rng.uniform());
    }
  }
  return p;
}

}  // namespace

TEST(BatchNormText, ParsesPrintsAndCountsItsParameters) {
  const ModelSpec s = parse_model(kModel);
  EXPECT_EQ(s.text(), kModel);
  EXPECT_EQ(s.layers[1].kind, LayerKind::BatchNorm);
  EXPECT_EQ(s.layers[1].out, 4);  // the channels of its input
  EXPECT_EQ(s.layers[6].out, 16);  // the features
  EXPECT_EQ(s.info[1].out, s.info[1].in);
  EXPECT_EQ(s.info[1].params, 8);
  EXPECT_EQ(s.info[6].params, 32);
  EXPECT_EQ(s.running_count(), 8 + 32);
  EXPECT_EQ(s.param_count(), 40 + 8 + 64 * 16 + 16 + 32 + 16 * 10 + 10);
  EXPECT_TRUE(has(error_of([] { (void)parse_model("batchnorm(4) flatten dense(64,10)"); }),
                  "layer 1 'batchnorm(4)': takes no arguments (its channels are its input's)"));
  EXPECT_TRUE(has(error_of([] { (void)parse_model("batchnom flatten dense(64,10)"); }),
                  "normalize, batchnorm, flatten"));
  const Parameters p = Parameters::he_uniform(s, 3);
  EXPECT_EQ(p.layers[1].weights, std::vector<float>(4, 1.0f));
  EXPECT_EQ(p.layers[1].bias, std::vector<float>(4, 0.0f));
  EXPECT_EQ(p.layers[1].running, (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_TRUE(p.layers[0].running.empty());
  // The He draws of the other layers are those of the model without batch norm.
  const ModelSpec plain = parse_model(
      "conv(1,4,k=3,pad=1) relu maxpool(2) flatten dense(64,16) tanh dense(16,10)");
  const Parameters q = Parameters::he_uniform(plain, 3);
  EXPECT_EQ(p.layers[0], q.layers[0]);
  EXPECT_EQ(p.layers[5], q.layers[4]);
}

TEST(BatchNormParameters, CheckedFiledAndRefusedFromOldVersions) {
  const ModelSpec s = parse_model(kModel);
  Parameters p = random_bn_parameters(s, 4);
  // Running statistics: none (the initial ones) or 2 x C; variances finite and >= 0.
  Parameters none = p;
  none.layers[1].running.clear();
  EXPECT_NO_THROW(check_parameters(s, none));
  EXPECT_EQ(none.with_running(s).layers[1].running, (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1}));
  Parameters bad = p;
  bad.layers[1].running.pop_back();
  EXPECT_TRUE(has(error_of([&] { check_parameters(s, bad); }),
                  "layer 2 'batchnorm': expected 8 running statistics or none, got 7"));
  bad = p;
  bad.layers[1].running[5] = -0.5f;
  EXPECT_TRUE(has(error_of([&] { check_parameters(s, bad); }), "running variance 2 is -0.5"));
  bad = p;
  bad.layers[0].running = {1, 2};
  EXPECT_TRUE(has(error_of([&] { check_parameters(s, bad); }), "expected no running statistics"));

  // A parameter file holds them (version 2); a model without batch norm keeps version 1.
  const std::string dir = temp_dir("bn-files");
  save_parameters(dir + "/p.bin", s, p);
  const std::string bytes = slurp(dir + "/p.bin");
  EXPECT_EQ(version_of(bytes), 2u);
  EXPECT_EQ(load_parameters(dir + "/p.bin", s), p);
  const ModelSpec seed = model_from_name("seed");
  EXPECT_EQ(version_of(serialize_parameters(seed, Parameters::he_uniform(seed, 1))), 1u);
  // The same bytes marked version 1 (checksum fixed): refused, not misread.
  std::string old = bytes;
  const std::uint32_t one = 1;
  std::memcpy(old.data() + 8, &one, 4);
  old.resize(old.size() - 8);
  const std::uint64_t sum = fnv1a64(old.data(), old.size());
  old.append(reinterpret_cast<const char*>(&sum), 8);
  EXPECT_TRUE(has(error_of([&] { (void)deserialize_parameters(old, s, "old.bin"); }),
                  "old.bin: corrupted parameter file (version 1 records a model with batch norm"));
  // Checkpoint version 8 is written for batch norm only: any other model in it is refused.
  std::string ck = serialize_checkpoint(seed, Parameters::he_uniform(seed, 1), [&] {
    TrainingState st;
    st.velocity = Parameters::zeros(seed);
    return st;
  }());
  EXPECT_EQ(version_of(ck), 2u);
  ck[8] = 8;
  EXPECT_TRUE(has(error_of([&] { (void)deserialize_checkpoint(resealed(ck), "c.ckpt"); }),
                  "c.ckpt: corrupted checkpoint (version 8 for a model without batch norm)"));
  // A negative running variance in a file is refused, naming the layer.
  std::string nb = serialize_parameters(s, p);
  const std::string good = serialize_parameters(s, p);
  // Find the float 16 of layer 7's running block by writing both and diffing.
  const std::size_t at = [&] {
    Parameters marked = p;
    marked.layers[6].running[16] = 12345.0f;
    const std::string m = serialize_parameters(s, marked);
    for (std::size_t i = 0; i < m.size(); ++i)
      if (m[i] != good[i]) return i;
    return std::size_t(0);
  }();
  ASSERT_GT(at, 0u);
  const float minus = -1.0f;
  std::memcpy(nb.data() + at, &minus, 4);
  nb.resize(nb.size() - 8);
  const std::uint64_t nsum = fnv1a64(nb.data(), nb.size());
  nb.append(reinterpret_cast<const char*>(&nsum), 8);
  EXPECT_TRUE(has(error_of([&] { (void)deserialize_parameters(nb, s, "neg.bin"); }),
                  "neg.bin: parameters of layer 7 'batchnorm': running variance"));
}

// In training the module normalises each channel over the whole batch: mean 0 and variance 1
// before the scale and shift; in evaluation it uses the running statistics.
TEST(BatchNormModule, NormalisesOverTheBatchInTrainingAndUsesRunningStatisticsOtherwise) {
  const Shape in{2, 3, 3, false};
  LayerSpec l;
  l.kind = LayerKind::BatchNorm;
  l.in = l.out = 2;
  LayerParams p{{2, 3}, {0.5, -1}, {1, -2, 4, 9}};
  reference::BatchNorm<double> m(in, p);
  Rng rng(5);
  std::vector<reference::Tensor<double>> xs;
  for (int s = 0; s < 3; ++s) {
    reference::Tensor<double> x(in);
    for (double& v : x.data) v = rng.uniform() * 4 - 1;
    xs.push_back(x);
  }
  m.begin_batch(xs);
  std::vector<double> sum(2), sq(2);
  for (const auto& x : xs) {
    const reference::Tensor<double> y = m.forward(x);
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 9; ++i) {
        const double z = (y.data[std::size_t(c * 9 + i)] - p.bias[std::size_t(c)]) / p.weights[std::size_t(c)];
        sum[std::size_t(c)] += z;
        sq[std::size_t(c)] += z * z;
      }
  }
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(sum[std::size_t(c)] / 27, 0.0, 1e-12);
    // Var + eps = 1 / inv^2: the normalised values' mean square is var / (var + eps).
    EXPECT_NEAR(sq[std::size_t(c)] / 27, 1.0, 1e-4);
  }
  m.end_batch();
  const reference::Tensor<double> y = m.forward(xs[0]);
  for (int c = 0; c < 2; ++c) {
    const double inv = 1 / std::sqrt(p.running[std::size_t(2 + c)] + 1e-5);
    EXPECT_NEAR(y.data[std::size_t(c * 9)],
                (xs[0].data[std::size_t(c * 9)] - p.running[std::size_t(c)]) * inv * p.weights[std::size_t(c)] +
                    p.bias[std::size_t(c)],
                1e-12);
  }
}

// The double oracle's mean gradients are the derivatives of its training loss (batch statistics
// included: every sample's loss depends on every sample), by central differences in double.
TEST(BatchNormGradients, WholeModelMatchesFiniteDifferences) {
  const ModelSpec spec = parse_model(
      "conv(1,3,k=3) batchnorm tanh flatten dense(48,6) batchnorm sigmoid dense(6,4)", Shape{1, 6, 6});
  const Parameters p0 = random_bn_parameters(spec, 6);
  Rng rng(7);
  const int n = 5;
  const std::vector<float> images = random_images(rng, n, spec.input);
  const std::vector<int> labels = random_labels(rng, n, 4);
  const Batch b{images.data(), labels.data(), n};
  const auto loss = [&](const Parameters& p) {
    reference::Network<double> net(spec, p);
    StepResult r;
    (void)net.gradients(b, &r);
    return r.loss;
  };
  reference::Network<double> net(spec, p0);
  const Parameters g = net.gradients(b);
  int checked = 0;
  for (std::size_t l = 0; l < spec.layers.size(); ++l)
    for (auto part : {&LayerParams::weights, &LayerParams::bias})
      for (std::size_t i = 0; i < (p0.layers[l].*part).size(); i += 3) {
        Parameters pp = p0, pm = p0;
        const float step = 1.0f / 1024;
        (pp.layers[l].*part)[i] += step;
        (pm.layers[l].*part)[i] -= step;
        const double numeric = (loss(pp) - loss(pm)) /
                               (double((pp.layers[l].*part)[i]) - double((pm.layers[l].*part)[i]));
        const double analytic = (g.layers[l].*part)[i];
        // The float parameters make the step coarse: second-order error about step^2.
        EXPECT_LE(std::abs(analytic - numeric), 1e-4 * std::max(std::abs(analytic), std::abs(numeric)) + 1e-6)
            << spec.layers[l].text() << " parameter " << i << ": analytic " << analytic << ", numeric " << numeric;
        ++checked;
      }
  EXPECT_GT(checked, 50);
  // Gradients do not move the running statistics; a step does.
  EXPECT_EQ(net.parameters().layers[1].running, p0.layers[1].running);
  net.train_step(b, 0.1f);
  EXPECT_NE(net.parameters().layers[1].running, p0.layers[1].running);
}

// The fast path against the double oracle: gradients, loss, evaluation logits (running
// statistics), three steps (scale, shift and running statistics), at batch sizes with a partial
// chunk, one chunk and two samples.
TEST(BatchNormParity, FastPathAgreesWithTheDoubleOracle) {
  const ModelSpec spec = parse_model(kModel);
  const ModelSpec after = parse_model(
      "conv(1,4,k=3,pad=1) relu batchnorm maxpool(2) flatten dense(64,16) tanh batchnorm dense(16,10)");
  for (int n : {40, 16, 2}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    const Parameters p0 = random_bn_parameters(spec, 8 + std::uint64_t(n));
    Rng rng(9 + std::uint64_t(n));
    const std::vector<float> images = random_images(rng, n, spec.input);
    const std::vector<int> labels = random_labels(rng, n, 10);
    const Batch b{images.data(), labels.data(), n};
    reference::Network<double> ref(spec, p0);
    auto fast = fast::make_network(spec, p0);
    StepResult rr, fr;
    expect_within_tolerance(flat(fast->gradients(b, &fr)), flat(ref.gradients(b, &rr)), "gradients");
    EXPECT_NEAR(fr.loss, rr.loss, 1e-5 * std::max(1.0, rr.loss));
    std::vector<float> fl(std::size_t(n) * 10), rl(fl.size());
    fast->predict(images, fl);
    ref.predict(images, rl);
    expect_within_tolerance(fl, rl, "evaluation logits");
    for (const Optimizer o : {Optimizer::Sgd, Optimizer::Adam}) {
      SCOPED_TRACE(optimizer_name(o));
      // A bias right before batch norm has a true gradient of 0 (the batch mean absorbs it): what
      // each path computes there is rounding noise, which Adam's m / sqrt(v) turns into a full
      // step of lr either way. So Adam is compared on the model with the nonlinearity first, and
      // not at batch 2, where a feature's two values normalise to +-1 and leave the same noise.
      if (o == Optimizer::Adam && n == 2) continue;
      const ModelSpec& m = o == Optimizer::Adam ? after : spec;
      const Parameters q0 = o == Optimizer::Adam ? random_bn_parameters(after, 8 + std::uint64_t(n)) : p0;
      reference::Network<double> r2(m, q0);
      auto f2 = fast::make_network(m, q0);
      Sgd sgd{o == Optimizer::Sgd ? 0.05f : 0.001f, o == Optimizer::Sgd ? 0.9f : 0.0f, 1e-4f};
      sgd.optimizer = o;
      for (int s = 1; s <= 3; ++s) {
        sgd.step = s;
        r2.sgd_step(b, sgd);
        f2->sgd_step(b, sgd);
        expect_within_tolerance(flat(f2->parameters()), flat(r2.parameters()),
                                "parameters and running statistics after step " + std::to_string(s));
      }
      f2->predict(images, fl);
      r2.predict(images, rl);
      expect_within_tolerance(fl, rl, "evaluation logits after three steps");
    }
  }
}

// fast::Layer (the harness of the layer benchmarks) runs batch norm in training mode like the
// network: against the module with its batch-level hook.
TEST(BatchNormParity, FastLayerAgreesWithTheModule) {
  for (const Shape in : {Shape{3, 5, 4, false}, Shape{20, 1, 1, true}}) {
    const int n = 37;
    LayerSpec l;
    l.kind = LayerKind::BatchNorm;
    l.in = l.out = in.c;
    LayerInfo info;
    info.in = info.out = in;
    Rng rng(11);
    LayerParams p;
    for (int c = 0; c < in.c; ++c) {
      p.weights.push_back(float(0.5 + rng.uniform()));
      p.bias.push_back(float(rng.uniform() - 0.5));
    }
    const std::vector<float> x = random_images(rng, n, in), g = random_images(rng, n, in);
    fast::Layer layer(l, info, p);
    const std::vector<float> y = layer.forward(x.data(), n);
    const std::vector<float> gx = layer.backward(g.data());
    reference::BatchNorm<double> m(in, p);
    const reference::Tensor<double> zero(in);
    std::vector<reference::Tensor<double>> xs(std::size_t(n), zero), gs = xs;
    const std::size_t f = std::size_t(in.size());
    for (std::size_t s = 0; s < std::size_t(n); ++s)
      for (std::size_t i = 0; i < f; ++i) {
        xs[s].data[i] = x[s * f + i];
        gs[s].data[i] = g[s * f + i];
      }
    m.begin_batch(xs);
    std::vector<double> ry, rgx;
    for (std::size_t s = 0; s < std::size_t(n); ++s) {
      const auto t = m.forward(xs[s]);
      ry.insert(ry.end(), t.data.begin(), t.data.end());
    }
    m.batch_gradients(gs);
    for (std::size_t s = 0; s < std::size_t(n); ++s) {
      m.set_sample(nullptr, 0, s);
      const auto t = m.backward(gs[s]);
      rgx.insert(rgx.end(), t.data.begin(), t.data.end());
    }
    expect_within_tolerance(y, ry, "forward " + in.str());
    expect_within_tolerance(gx, rgx, "input gradient " + in.str());
    std::vector<double> w, b;
    m.mean_gradients(w, b);
    const LayerParams mg = layer.mean_gradients();
    expect_within_tolerance(mg.weights, w, "scale gradient " + in.str());
    expect_within_tolerance(mg.bias, b, "shift gradient " + in.str());
  }
}

// One value per channel in a training batch (a flat input, one sample) has no variance to speak
// of: both paths refuse it, naming the layer; a conv layer's plane gives more values.
TEST(BatchNormErrors, OneValuePerChannelIsRefusedInTraining) {
  const ModelSpec spec = parse_model(kModel);
  const Parameters p = Parameters::he_uniform(spec, 12);
  Rng rng(13);
  const std::vector<float> images = random_images(rng, 1, spec.input);
  const std::vector<int> labels{3};
  const Batch one{images.data(), labels.data(), 1};
  for (PathKind path : {PathKind::Reference, PathKind::Fast}) {
    auto net = make_network(path, spec, p);
    EXPECT_TRUE(has(error_of([&] { net->train_step(one, 0.1f); }),
                    "layer 7 'batchnorm' sees 1 value per channel in a batch of 1 sample"))
        << path_name(path);
    EXPECT_EQ(net->parameters(), p.with_running(spec));
    std::vector<float> logits(10);
    EXPECT_NO_THROW(net->predict(images, logits));  // evaluation: the running statistics
  }
  const ModelSpec conv_only = parse_model("conv(1,2,k=3,pad=1) batchnorm flatten dense(128,10)");
  auto net = make_network(PathKind::Fast, conv_only, Parameters::he_uniform(conv_only, 1));
  EXPECT_NO_THROW(net->train_step(one, 0.1f));
}

// Training through the CLI: the same checkpoint bytes at 1 and 2 threads and after a resume.
TEST(BatchNormRun, ReproducibleAndResumableBitForBit) {
  const std::string data = learnable_optdigits("bn-data", 15, 90, 30);
  const std::string dir = temp_dir("bn-run");
  const std::string common = std::string("train --data ") + data + " --batch 16 --model \"" + kModel + "\" ";
  ASSERT_EQ(cli(common + "--epochs 4 --threads 2 --save " + dir + "/full.ckpt").code, 0);
  const std::string whole = slurp(dir + "/full.ckpt");
  EXPECT_EQ(version_of(whole), 8u);
  ASSERT_EQ(cli(common + "--epochs 4 --threads 1 --save " + dir + "/one.ckpt").code, 0);
  EXPECT_EQ(slurp(dir + "/one.ckpt"), whole);
  ASSERT_EQ(cli(common + "--epochs 2 --save " + dir + "/part.ckpt").code, 0);
  const CliResult resumed =
      cli("train --data " + data + " --resume " + dir + "/part.ckpt --epochs 4 --save " + dir + "/part.ckpt");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(slurp(dir + "/part.ckpt"), whole);
  // The running statistics moved from their initial values and eval reads them.
  const Checkpoint c = load_checkpoint(dir + "/full.ckpt");
  EXPECT_NE(c.params.layers[1].running, (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1}));
  const CliResult eval = cli("eval --data " + data + " --checkpoint " + dir + "/full.ckpt");
  EXPECT_EQ(eval.code, 0) << eval.err;
}

// The last batch of an epoch would be 1 sample: refused before the first epoch, not after it.
TEST(BatchNormErrors, ALastBatchOfOneSampleIsRefusedBeforeTraining) {
  const std::string data = learnable_optdigits("bn-last-one", 16, 33, 10);
  const CliResult r = cli(std::string("train --data ") + data + " --batch 16 --model \"" + kModel + "\"");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "layer 7 'batchnorm' sees 1 value per channel, and the 33 training samples in "
                         "batches of 16 leave a last batch of 1 sample"))
      << r.err;
  EXPECT_FALSE(has(r.out, "    1 ")) << r.out;  // no epoch ran
  // A conv layer's batch norm has a plane of values per sample: the same data trains.
  const CliResult conv = cli(std::string("train --data ") + data +
                             " --batch 16 --epochs 1 --model \"conv(1,2,k=3,pad=1) batchnorm relu flatten dense(128,10)\"");
  EXPECT_EQ(conv.code, 0) << conv.err;
}

// A checkpoint's velocity and second-moment sets never carry running statistics.
TEST(BatchNormErrors, OptimizerStateWithRunningStatisticsIsNotWritten) {
  const ModelSpec s = parse_model(kModel);
  TrainingState st;
  st.velocity = Parameters::zeros(s).with_running(s);
  EXPECT_TRUE(has(error_of([&] { (void)serialize_checkpoint(s, Parameters::he_uniform(s, 1), st); }),
                  "a velocity or second-moment set holds running statistics"));
}

// The fashion-cnn built-in: its shapes (strided convolutions halve 28 -> 14 -> 7, gap), its
// parameters and running statistics, and its training defaults (momentum, weight decay, cosine),
// each giving way to its flag.
TEST(FashionCnn, ShapesParametersAndDefaults) {
  const ModelSpec s = model_from_name("fashion-cnn");
  EXPECT_EQ(s.input.str(), "1x28x28");
  std::vector<std::string> outs;
  for (std::size_t i = 0; i < s.layers.size(); ++i)
    if (s.layers[i].kind == LayerKind::BatchNorm || s.layers[i].kind == LayerKind::GlobalAvgPool)
      outs.push_back(s.info[i].out.str());
  EXPECT_EQ(outs, (std::vector<std::string>{"32x28x28", "64x14x14", "64x14x14", "128x7x7", "128x7x7",
                                            "128x1x1"}));
  EXPECT_EQ(s.param_count(), 279306);
  EXPECT_EQ(s.running_count(), 2 * (32 + 64 + 64 + 128 + 128));
  const std::string data = learnable_optdigits("fashion-cnn-data", 17, 40, 10);
  const CliResult r = cli("train --model fashion-cnn --data " + data + " --resize 28x28 --epochs 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "1 epochs, batch 128, lr 0.05 (cosine), momentum 0.9, weight decay 0.0005")) << r.out;
  const CliResult adam = cli("train --model fashion-cnn --data " + data +
                             " --resize 28x28 --epochs 1 --optimizer adam --lr-schedule constant");
  ASSERT_EQ(adam.code, 0) << adam.err;
  EXPECT_TRUE(has(adam.out, "1 epochs, batch 128, lr 0.001, adam (betas")) << adam.out;
  EXPECT_FALSE(has(adam.out, "weight decay")) << adam.out;
}

// Evaluation mode is a fixed affine map per channel (the running statistics): its input, scale
// and shift gradients against central differences of L = sum(r .* forward(x)), in double.
TEST(BatchNormGradients, EvaluationModeMatchesFiniteDifferences) {
  for (const Shape in : {Shape{3, 4, 5, false}, Shape{7, 1, 1, true}}) {
    Rng rng(18);
    LayerParams p;
    for (int c = 0; c < in.c; ++c) {
      p.weights.push_back(float(0.5 + rng.uniform()));
      p.bias.push_back(float(rng.uniform() - 0.5));
    }
    for (int c = 0; c < in.c; ++c) p.running.push_back(float(rng.uniform() - 0.5));
    for (int c = 0; c < in.c; ++c) p.running.push_back(float(0.25 + rng.uniform()));
    reference::Tensor<double> x(in), r(in);
    for (double& v : x.data) v = rng.uniform() * 4 - 2;
    for (double& v : r.data) v = rng.uniform() * 2 - 1;
    const auto objective = [&](const reference::Tensor<double>& xx, const LayerParams& pp) {
      reference::BatchNorm<double> m(in, pp);
      const reference::Tensor<double> y = m.forward(xx);
      double s = 0;
      for (std::size_t i = 0; i < y.data.size(); ++i) s += r.data[i] * y.data[i];
      return s;
    };
    reference::BatchNorm<double> m(in, p);
    (void)m.forward(x);
    const reference::Tensor<double> gx = m.backward(r);
    std::vector<double> gw, gb;
    ASSERT_TRUE(m.mean_gradients(gw, gb));
    const double eps = 1e-5;
    for (std::size_t i = 0; i < x.data.size(); ++i) {
      reference::Tensor<double> xp = x, xm = x;
      xp.data[i] += eps;
      xm.data[i] -= eps;
      const double numeric = (objective(xp, p) - objective(xm, p)) / (2 * eps);
      EXPECT_NEAR(gx.data[i], numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << in.str() << " input " << i;
    }
    // L is linear in the scale and the shift: the difference quotient is the derivative.
    for (auto part : {&LayerParams::weights, &LayerParams::bias})
      for (std::size_t c = 0; c < std::size_t(in.c); ++c) {
        LayerParams pp = p, pm = p;
        (pp.*part)[c] += 0.25f;
        (pm.*part)[c] -= 0.25f;
        // The step as stored (a sum crossing a power of two rounds).
        const double numeric = (objective(x, pp) - objective(x, pm)) /
                               (double((pp.*part)[c]) - double((pm.*part)[c]));
        const double analytic = part == &LayerParams::weights ? gw[c] : gb[c];
        EXPECT_NEAR(analytic, numeric, 1e-9 * std::max(1.0, std::abs(numeric))) << in.str() << " channel " << c;
      }
  }
}
