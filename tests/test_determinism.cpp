// The fast path is bitwise deterministic: the same parameters at 1, 2, 3 and 4 OpenMP threads and
// from run to run (fixed chunks of kChunk samples, per-chunk partial gradients added in chunk order).
#include <omp.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scratchcnn/data/dataset.hpp"
#include "fast/layer.hpp"
#include "fast/network.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

namespace {

using namespace scratchcnn;

// The raw bits of every exported parameter, and of every logit of a prediction.
struct Outcome {
  std::vector<std::uint32_t> params, logits;
  std::vector<double> losses;
  bool operator==(const Outcome&) const = default;
};

std::vector<std::uint32_t> bits(const float* p, std::size_t n) {
  std::vector<std::uint32_t> b(n);
  if (n > 0) std::memcpy(b.data(), p, n * sizeof(float));  // p is null for an empty layer
  return b;
}

std::vector<std::uint32_t> bits(const Parameters& p) {
  std::vector<std::uint32_t> b;
  for (const auto& l : p.layers) {
    const auto w = bits(l.weights.data(), l.weights.size()), v = bits(l.bias.data(), l.bias.size());
    b.insert(b.end(), w.begin(), w.end());
    b.insert(b.end(), v.begin(), v.end());
  }
  return b;
}

// Trains on images/labels in order, batches of `batch` (the last one short), `steps` batches at
// most, with `threads` OpenMP threads.
Outcome train(const ModelSpec& spec, const Parameters& p0, const std::vector<float>& images,
              const std::vector<int>& labels, int batch, int steps, int threads,
              fast::ConvAlgo algo = fast::ConvAlgo::Auto) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  // No work limit per thread: every thread count asked for really runs, even on the seed model.
  auto net = fast::make_network(spec, p0, fast::Options{algo, true, 0.0});
  Outcome o;
  const int n = int(labels.size());
  const std::size_t f = std::size_t(spec.input.size());
  for (int s = 0, step = 0; s < n && step < steps; s += batch, ++step) {
    const int m = std::min(batch, n - s);
    o.losses.push_back(net->train_step(Batch{images.data() + s * f, labels.data() + s, m}, 0.1f).loss);
  }
  o.params = bits(net->parameters());
  const int np = std::min(n, 100);
  std::vector<float> logits(std::size_t(np) * spec.classes());
  net->predict({images.data(), std::size_t(np) * f}, logits);
  o.logits = bits(logits.data(), logits.size());
  omp_set_num_threads(before);
  return o;
}

class Determinism : public scratchcnn::test::IsaTest {};
SCRATCHCNN_TEST_EVERY_ISA(Determinism);

TEST_P(Determinism, SeedModelOneEpochAnyThreadCount) {
  const data::Split data = data::load_data_dir(test::optdigits_dir(), 1);
  ASSERT_GT(data.train.size(), 0);
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 1);
  const Outcome one = train(spec, p0, data.train.images, data.train.labels, 128, 1 << 30, 1);
  ASSERT_EQ(one.losses.size(), std::size_t((data.train.size() + 127) / 128));
  EXPECT_LT(one.losses.back(), one.losses.front());  // it did learn something
  for (int t : {2, 3, 4}) {
    const Outcome o = train(spec, p0, data.train.images, data.train.labels, 128, 1 << 30, t);
    EXPECT_TRUE(o == one) << "parameters, losses or logits differ at " << t << " threads";
  }
  // Run to run, same thread count.
  EXPECT_TRUE(train(spec, p0, data.train.images, data.train.labels, 128, 1 << 30, 2) == one);
}

TEST_P(Determinism, Lenet5StepsAnyThreadCount) {
  const ModelSpec spec = model_from_name("lenet5");
  const Parameters p0 = Parameters::he_uniform(spec, 3);
  Rng rng(4);
  const int n = 3 * 64 + 21;  // three full batches and a short one with a partial chunk
  const std::vector<float> images = test::random_images(rng, n, spec.input);
  const std::vector<int> labels = test::random_labels(rng, n, 10);
  for (fast::ConvAlgo a : {fast::ConvAlgo::Direct, fast::ConvAlgo::Im2col}) {
    SCOPED_TRACE(conv_algo_name(a));
    const Outcome one = train(spec, p0, images, labels, 64, 4, 1, a);
    for (int t : {2, 3, 4})
      EXPECT_TRUE(train(spec, p0, images, labels, 64, 4, t, a) == one) << t << " threads";
    EXPECT_TRUE(train(spec, p0, images, labels, 64, 4, 4, a) == one) << "second run";
  }
}

// Dropout's masks are keyed by the sample's place in the batch, not by the thread or chunk
// order: the same bits at any thread count.
TEST_P(Determinism, DropoutModelStepsAnyThreadCount) {
  const ModelSpec spec = parse_model(
      "conv(1,4,k=3,pad=1) relu dropout(0.3) maxpool(2) flatten dense(64,32) relu dropout(0.5) "
      "dense(32,10)");
  const Parameters p0 = Parameters::he_uniform(spec, 5);
  Rng rng(6);
  const int n = 3 * 48 + 21;
  const std::vector<float> images = test::random_images(rng, n, spec.input);
  const std::vector<int> labels = test::random_labels(rng, n, 10);
  const Outcome one = train(spec, p0, images, labels, 48, 4, 1);
  for (int t : {2, 3, 4}) EXPECT_TRUE(train(spec, p0, images, labels, 48, 4, t) == one) << t << " threads";
}

// Batch norm's statistics are added in the chunk tree, whichever thread ran a chunk: the same bits
// (parameters, running statistics, losses) at any thread count.
TEST_P(Determinism, BatchNormModelStepsAnyThreadCount) {
  const ModelSpec spec = parse_model(
      "conv(1,4,k=3,pad=1) batchnorm relu maxpool(2) flatten dense(64,32) batchnorm relu dropout(0.25) "
      "dense(32,10)");
  const Parameters p0 = Parameters::he_uniform(spec, 5);
  Rng rng(6);
  const int n = 3 * 48 + 21;
  const std::vector<float> images = test::random_images(rng, n, spec.input);
  const std::vector<int> labels = test::random_labels(rng, n, 10);
  const Outcome one = train(spec, p0, images, labels, 48, 4, 1);
  for (int t : {2, 3, 4}) EXPECT_TRUE(train(spec, p0, images, labels, 48, 4, t) == one) << t << " threads";
}

TEST_P(Determinism, StridedModelStepsAnyThreadCount) {
  // Strided convolutions (stride 2 padded, stride 3 with a row and column in no window) run on
  // im2col; their weight gradients and scattered input gradients must not depend on threads.
  const ModelSpec spec = parse_model(
      "conv(1,8,k=3,stride=2,pad=1) relu conv(8,12,k=3,stride=3) relu flatten dense(48,10)",
      Shape{1, 16, 16, false});
  const Parameters p0 = Parameters::he_uniform(spec, 5);
  Rng rng(6);
  const int n = 2 * 64 + 37;  // two full batches and a short one with a partial chunk
  const std::vector<float> images = test::random_images(rng, n, spec.input);
  const std::vector<int> labels = test::random_labels(rng, n, 10);
  const Outcome one = train(spec, p0, images, labels, 64, 3, 1);
  for (int t : {2, 3, 4})
    EXPECT_TRUE(train(spec, p0, images, labels, 64, 3, t) == one) << t << " threads";
  EXPECT_TRUE(train(spec, p0, images, labels, 64, 3, 4) == one) << "second run";
}

TEST_P(Determinism, GradientsAndLayersAnyThreadCount) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p0 = Parameters::he_uniform(spec, 8);
  Rng rng(9);
  const int n = 77;
  const std::vector<float> images = test::random_images(rng, n, spec.input);
  const std::vector<int> labels = test::random_labels(rng, n, 10);
  std::vector<std::uint32_t> first_g, first_l;
  const int before = omp_get_max_threads();
  for (int t : {1, 2, 3, 4}) {
    omp_set_num_threads(t);
    auto net = fast::make_network(spec, p0, fast::Options{fast::ConvAlgo::Auto, true, 0.0});
    const auto g = bits(net->gradients(Batch{images.data(), labels.data(), n}));
    // A lone layer: conv 2 -> 4 of the seed model on random real input.
    fast::Layer layer(spec.layers[2], spec.info[2], p0.layers[2]);
    std::vector<float> x(std::size_t(n) * 128), go(std::size_t(n) * 256);
    Rng r2(10);
    for (float& v : x) v = float(r2.uniform() - 0.5);
    for (float& v : go) v = float(r2.uniform() - 0.5);
    layer.forward(x.data(), n);
    layer.backward(go.data());
    const auto l = bits(layer.gradient_sums().weights.data(), layer.gradient_sums().weights.size());
    if (t == 1) {
      first_g = g;
      first_l = l;
    } else {
      EXPECT_TRUE(g == first_g) << "network gradients differ at " << t << " threads";
      EXPECT_TRUE(l == first_l) << "layer gradient sums differ at " << t << " threads";
    }
  }
  omp_set_num_threads(before);
}

}  // namespace
