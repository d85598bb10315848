// ONNX export run by OpenCV DNN (cv::dnn::readNetFromONNX, OpenCV 4.6 from Debian 12), a runtime
// we did not write: every exported model must give the logits of our fast path's predict for a
// few hundred inputs, within 1e-4 relative (|a - b| <= 1e-4 * max(1, |b|)).
// Inputs: the seed model (1x8x8) gets real optdigits images (the test data the other tests use,
// test_support.hpp: optdigits_dir()), the LeNets the same digits resized to 28x28 as well; the
// 28x28 models, the every-layer model and random models
// get deterministic pseudo-random images with pixels uniform in [0, 1) (no MNIST-sized data is
// part of the tests).
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "onnx_models.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/onnx.hpp"
#include "scratchcnn/rng.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

constexpr int kSamples = 300;
constexpr int kBatch = 100;  // OpenCV runs the samples in batches of this many

// OpenCV's logits for `images` (n samples, NCHW), through the exported file `path`.
std::vector<float> opencv_logits(const std::string& path, const ModelSpec& spec,
                                 const std::vector<float>& images, int n) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  EXPECT_FALSE(net.empty());
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  const int classes = spec.classes();
  const std::size_t per = std::size_t(spec.input.size());
  std::vector<float> logits;
  for (int start = 0; start < n; start += kBatch) {
    const int m = std::min(kBatch, n - start);
    const int dims[] = {m, spec.input.c, spec.input.h, spec.input.w};
    cv::Mat blob(4, dims, CV_32F);
    std::copy(images.begin() + std::ptrdiff_t(start * per),
              images.begin() + std::ptrdiff_t((start + m) * per), blob.ptr<float>());
    net.setInput(blob, onnx::kInputName);
    const cv::Mat out = net.forward();
    EXPECT_EQ(out.total(), std::size_t(m) * std::size_t(classes));
    EXPECT_EQ(out.size[0], m);
    const cv::Mat c = out.isContinuous() ? out : out.clone();
    logits.insert(logits.end(), c.ptr<float>(), c.ptr<float>() + std::size_t(m) * classes);
  }
  return logits;
}

// Exports (spec, p), runs it in OpenCV and compares with the fast path's predict.
// With options.softmax, the softmax of our logits (in double, as predict --probs computes it).
void expect_opencv_matches(const std::string& name, const ModelSpec& spec, const Parameters& p,
                           const std::vector<float>& images, int n,
                           const onnx::ExportOptions& options = {}) {
  SCOPED_TRACE(name + ": " + spec.full_text());
  const std::string path = temp_dir("onnx-opencv") + "/" + name + ".onnx";
  write_file(path, onnx::export_model(spec, p, options));
  const auto net = make_network(PathKind::Fast, spec, p);
  const std::size_t k = std::size_t(spec.classes());
  std::vector<float> ours(std::size_t(n) * k);
  net->predict(images, ours);
  if (options.softmax)
    for (std::size_t s = 0; s < std::size_t(n); ++s) {
      float* z = ours.data() + s * k;
      const double m = *std::max_element(z, z + k);
      double sum = 0;
      for (std::size_t j = 0; j < k; ++j) sum += std::exp(double(z[j]) - m);
      for (std::size_t j = 0; j < k; ++j) z[j] = float(std::exp(double(z[j]) - m) / sum);
    }
  const std::vector<float> theirs = opencv_logits(path, spec, images, n);
  ASSERT_EQ(theirs.size(), ours.size());
  int bad = 0;
  double worst = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const double b = ours[i], a = theirs[i];
    const double err = std::abs(a - b) / std::max(1.0, std::abs(b));
    worst = std::max(worst, err);
    if (!(err <= 1e-4) && bad++ < 5)
      ADD_FAILURE() << "sample " << i / std::size_t(spec.classes()) << " class "
                    << i % std::size_t(spec.classes()) << ": OpenCV " << a << ", ours " << b;
  }
  EXPECT_EQ(bad, 0) << "logits beyond 1e-4 relative; worst " << worst;
  std::printf("%-14s %d samples x %d logits: largest relative difference %.3g\n", name.c_str(), n,
              spec.classes(), worst);
}

std::vector<float> pseudo_random_images(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  return random_images(rng, kSamples, s);
}

class OnnxOpenCv : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  }
};

}  // namespace

TEST_F(OnnxOpenCv, SeedModelOnOptdigits) {
  const data::Split split = data::load_data_dir(optdigits_dir(), 1);
  const data::Dataset& d = split.test;
  ASSERT_GE(d.size(), kSamples);
  const std::vector<float> images(d.images.begin(), d.images.begin() + kSamples * 64);
  const ModelSpec spec = parse_model(kSeedModelText, Shape{1, 8, 8});
  expect_opencv_matches("seed-he", spec, export_test_parameters(spec, 1), images, kSamples);
  // Briefly trained: one epoch of the training split.
  auto net = make_network(PathKind::Fast, spec, export_test_parameters(spec, 2));
  TrainOptions t;
  t.epochs = 1;
  t.batch = 32;
  t.lr = 0.1f;
  (void)train(*net, split.train, split.test, t);
  expect_opencv_matches("seed-trained", spec, net->parameters(), images, kSamples);
  // The other ends of the opset range; the softmax output.
  onnx::ExportOptions o;
  o.opset = onnx::kMinOpset;
  o.softmax = true;
  expect_opencv_matches("seed-11-probs", spec, net->parameters(), images, kSamples, o);
  o.opset = onnx::kMaxOpset;
  expect_opencv_matches("seed-17-probs", spec, net->parameters(), images, kSamples, o);
  o.softmax = false;
  expect_opencv_matches("seed-17", spec, net->parameters(), images, kSamples, o);
}

// The 28x28 built-ins on real images: optdigits test digits resized to 28x28 (bilinear, as
// --resize 28x28 does), each model also with a per-model normalize layer first, as
// train --normalize meanstd writes it.
TEST_F(OnnxOpenCv, LeNetsOnRealDigitsResizedTo28x28) {
  data::Split split = data::load_data_dir(optdigits_dir(), 1);
  data::Dataset& d = split.test;
  ASSERT_GE(d.size(), kSamples);
  data::apply_load_options(d, data::LoadOptions{0, 28, 28});
  ASSERT_EQ(d.h, 28);
  const std::vector<float> images(d.images.begin(), d.images.begin() + kSamples * 28 * 28);
  const data::ChannelStats st = data::channel_stats(d);
  std::uint64_t seed = 40;
  for (const char* name : {"lenet5", "lenet5-1998"}) {
    const ModelSpec plain = model_from_name(name);
    expect_opencv_matches(std::string(name) + "-digits", plain, export_test_parameters(plain, ++seed),
                          images, kSamples);
    const ModelSpec normalized =
        parse_model("normalize(mean=" + std::to_string(st.mean[0]) + ",std=" + std::to_string(st.stdev[0]) +
                        ") " + plain.text(),
                    plain.input);
    expect_opencv_matches(std::string(name) + "-norm", normalized,
                          export_test_parameters(normalized, ++seed), images, kSamples);
  }
}

TEST_F(OnnxOpenCv, BuiltinAndEveryLayerModels) {
  std::uint64_t seed = 10;
  for (const NamedModel& m : onnx_test_models())
    expect_opencv_matches(m.name, m.spec, export_test_parameters(m.spec, seed),
                          pseudo_random_images(m.spec.input, seed + 100), kSamples),
        ++seed;
}

TEST_F(OnnxOpenCv, RandomValidModels) {
  int i = 0;
  for (const ModelSpec& spec : random_valid_models(31, 12)) {
    ++i;
    expect_opencv_matches("random" + std::to_string(i), spec,
                          export_test_parameters(spec, std::uint64_t(i)),
                          pseudo_random_images(spec.input, std::uint64_t(i) + 500), kSamples);
  }
}
