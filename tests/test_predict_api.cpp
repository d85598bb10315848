// Network::predict's size contract: sized views, checked against the model before anything is
// computed, and no NaN or infinite answer handed back (the library, eval and predict).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "scratchcnn/error.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using scratchcnn::test::cli;
using scratchcnn::test::error_of;
using scratchcnn::test::has;

namespace {

const ModelSpec& seed_spec() {
  static const ModelSpec s = model_from_name("seed");
  return s;
}

}  // namespace

TEST(PredictApi, SizeMismatchesAreRefusedByBothPaths) {
  const ModelSpec& spec = seed_spec();  // 1x8x8 in, 10 classes
  const Parameters p = Parameters::he_uniform(spec, 3);
  for (PathKind path : {PathKind::Reference, PathKind::Fast}) {
    auto net = make_network(path, spec, p);
    std::vector<float> images(3 * 64, 0.5f), logits(3 * 10);
    net->predict(images, logits);  // the right sizes pass

    // Not a whole number of samples, or none at all.
    std::vector<float> short_images(3 * 64 - 1, 0.5f);
    EXPECT_TRUE(has(error_of([&] { net->predict(short_images, logits); }),
                    "191 input values are not a whole number of 1x8x8 samples"));
    EXPECT_TRUE(has(error_of([&] { net->predict(std::span<const float>(), logits); }),
                    "0 input values"));
    // A logits buffer of the wrong size, either way (the old pointer API wrote past a short one).
    std::vector<float> small(29), big(31);
    EXPECT_TRUE(has(error_of([&] { net->predict(images, small); }),
                    "the logits buffer holds 29 floats; 3 samples of 10 classes need 30"));
    EXPECT_TRUE(has(error_of([&] { net->predict(images, big); }), "holds 31 floats"));
    // One sample.
    EXPECT_EQ(net->predict_one(std::span<const float>(images.data(), 64)).size(), 10u);
    EXPECT_TRUE(has(error_of([&] { (void)net->predict_one(images); }),
                    "one 1x8x8 sample is 64 values, got 192"));
    // A non-finite input is named, not turned into a label.
    images[64 + 5] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(has(error_of([&] { net->predict(images, logits); }),
                    "sample 1 has a non-finite input value (NaN) at index 5"));
  }
}

TEST(PredictApi, OneSampleEqualsItsRowInABatch) {
  const ModelSpec& spec = seed_spec();
  const Parameters p = Parameters::he_uniform(spec, 4);
  Rng rng(9);
  const std::vector<float> x = test::random_images(rng, 5, spec.input);
  for (PathKind path : {PathKind::Reference, PathKind::Fast}) {
    auto net = make_network(path, spec, p);
    std::vector<float> all(5 * 10);
    net->predict(x, all);
    const std::vector<float> one = net->predict_one(std::span<const float>(x).subspan(3 * 64, 64));
    for (int j = 0; j < 10; ++j) EXPECT_EQ(one[std::size_t(j)], all[std::size_t(30 + j)]);
  }
}

// Finite parameters whose logits overflow float: every weight 3e38.
Parameters overflowing(const ModelSpec& spec) {
  Parameters p = Parameters::zeros(spec);
  for (auto& l : p.layers)
    for (float& w : l.weights) w = 3.0e38f;
  return p;
}

TEST(PredictApi, InfiniteLogitsAreAnError) {
  const ModelSpec spec = model_from_name("flatten dense(64,10)");
  const Parameters p = overflowing(spec);
  std::vector<float> x(2 * 64, 1.0f), logits(2 * 10);
  for (PathKind path : {PathKind::Reference, PathKind::Fast}) {
    auto net = make_network(path, spec, p);
    EXPECT_TRUE(has(error_of([&] { net->predict(x, logits); }),
                    "the logit of class 0 for sample 0 is infinite"));
    EXPECT_TRUE(has(error_of([&] { (void)predict_classes(*net, x); }), "is infinite"));
  }
}

TEST(PredictApi, CliEvalAndPredictRefuseInfiniteLogits) {
  const std::string dir = test::temp_dir("predict_api");
  const ModelSpec spec = model_from_name("flatten dense(64,10)");
  save_parameters(dir + "/p.bin", spec, overflowing(spec));
  const std::string data = test::optdigits_dir();
  auto r = cli("eval --checkpoint " + dir + "/p.bin --data " + data);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "is infinite")) << r.err;
  EXPECT_FALSE(has(r.out, "accuracy")) << r.out;
  // Before, predict printed a label per row (class 0 for every NaN row) and exited 0.
  r = cli("predict --checkpoint " + dir + "/p.bin " + test::optdigits_rows_file());
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(has(r.err, "is infinite")) << r.err;
  EXPECT_EQ(r.out, "");
}

// examples/classify.cpp with a model that does not take optdigits rows: before, a LeNet-5 file
// read past the rows (SIGSEGV; ASan: heap-buffer-overflow) and a 1x4x4 model printed labels of
// the wrong pixels with exit 0.
TEST(PredictApi, ExampleClassifyRefusesAModelOfAnotherShape) {
  const std::string dir = test::temp_dir("classify_shapes");
  const std::string rows = test::optdigits_rows_file();
  const std::string classify = SCRATCHCNN_EXAMPLE_CLASSIFY_PATH;
  struct Case {
    const char* model;
    Shape input;
    const char* says;
  };
  for (const Case& c : {Case{"lenet5", Shape{1, 28, 28, false}, "takes 1x28x28"},
                        Case{"flatten dense(16,10)", Shape{1, 4, 4, false}, "takes 1x4x4"}}) {
    const ModelSpec spec = model_from_name(c.model, &c.input);
    save_parameters(dir + "/m.bin", spec, Parameters::he_uniform(spec, 1));
    const auto r = test::run_command(classify + " " + dir + "/m.bin " + rows);
    EXPECT_EQ(r.code, 1) << c.model << "\n" << r.out << r.err;
    EXPECT_TRUE(has(r.err, c.says)) << r.err;
    EXPECT_EQ(r.out, "");
  }
  // The model it was written for still classifies.
  const ModelSpec seed = seed_spec();
  save_parameters(dir + "/s.bin", seed, Parameters::he_uniform(seed, 1));
  const auto r = test::run_command(classify + " " + dir + "/s.bin " + rows);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "1796 ")) << r.out.substr(0, 200);
}
