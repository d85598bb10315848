// Dropout (LayerKind::Dropout, "dropout(P)"): the model text, the counter-based mask against its
// definition and its statistics, the reference module against the rule, the fast path against the
// reference (the same elements dropped, parity within tolerance), the identity in evaluation, and
// finite differences through a fixed mask.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "compare.hpp"
#include "core/dropout.hpp"
#include "fast/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

TEST(DropoutText, ParsesPrintsAndRefusesWhatIsNotAProbability) {
  const ModelSpec s = parse_model("flatten dropout(0.5) dense(64,10) dropout(0.1)");
  EXPECT_EQ(s.layers[1].kind, LayerKind::Dropout);
  EXPECT_EQ(s.layers[1].rate, 0.5f);
  EXPECT_EQ(s.text(), "flatten dropout(0.5) dense(64,10) dropout(0.1)");
  EXPECT_EQ(s.info[1].out, s.info[1].in);
  EXPECT_EQ(s.info[1].flops, 64);
  EXPECT_EQ(s.param_count(), 650);
  EXPECT_EQ(parse_model("flatten dropout(0) dense(64,10)").layers[1].rate, 0.0f);
  for (const char* bad : {"dropout(1)", "dropout(-0.1)", "dropout(x)", "dropout", "dropout(0.5,1)",
                          "dropout()", "dropout(nan)", "dropout(0.5x)"}) {
    const std::string msg = error_of([&] { (void)parse_model(std::string("flatten ") + bad + " dense(64,10)"); });
    EXPECT_TRUE(has(msg, "layer 2")) << bad << ": " << msg;
  }
}

TEST(DropoutMask, FollowsItsDefinitionAndDropsTheRateOnAverage) {
  // The definition, written out: SplitMix64's finaliser chained over the key's parts.
  const auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const DropoutKey key{12345, 7};
  for (std::uint64_t e = 0; e < 100; ++e) {
    std::uint64_t h = mix(key.seed ^ mix(std::uint64_t(key.step)));
    h = mix(mix(mix(h ^ 2) ^ 3) ^ e);
    EXPECT_EQ(dropout_keep(key, 2, 3, e, dropout_threshold(0.3f)), (h >> 40) >= 5033165u) << e;
  }
  EXPECT_EQ(dropout_threshold(0.5f), 1u << 23);
  EXPECT_EQ(dropout_threshold(0.0f), 0u);
  EXPECT_EQ(dropout_scale<float>(0.5f), 2.0f);
  EXPECT_EQ(dropout_scale<float>(0.25f), float(1.0 / 0.75));
  for (const float rate : {0.1f, 0.5f, 0.9f}) {
    int dropped = 0;
    const int n = 200000;
    for (int e = 0; e < n; ++e) dropped += !dropout_keep(key, 0, std::uint64_t(e % 97), std::uint64_t(e), dropout_threshold(rate));
    EXPECT_NEAR(double(dropped) / n, rate, 0.005) << rate;
  }
  // Every part of the key changes the mask.
  const auto mask = [](const DropoutKey& k, std::uint64_t layer, std::uint64_t sample) {
    std::vector<bool> m;
    for (std::uint64_t e = 0; e < 256; ++e) m.push_back(dropout_keep(k, layer, sample, e, 1u << 23));
    return m;
  };
  const auto base = mask(key, 1, 1);
  EXPECT_NE(mask(DropoutKey{12346, 7}, 1, 1), base);
  EXPECT_NE(mask(DropoutKey{12345, 8}, 1, 1), base);
  EXPECT_NE(mask(key, 2, 1), base);
  EXPECT_NE(mask(key, 1, 2), base);
  EXPECT_EQ(mask(key, 1, 1), base);
}

TEST(DropoutModule, FollowsTheRuleInTrainingAndIsTheIdentityOtherwise) {
  const ModelSpec spec = parse_model("dropout(0.25) flatten dense(30,2)", Shape{2, 3, 5});
  auto m = reference::make_module<double>(spec.layers[0], spec.info[0], {});
  reference::Tensor<double> x(spec.input), g(spec.input);
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    x.data[i] = 0.5 + double(i);
    g.data[i] = 1.0 - 0.25 * double(i);
  }
  EXPECT_EQ(m->forward(x).data, x.data);  // no key: evaluation
  EXPECT_EQ(m->backward(g).data, g.data);
  const DropoutKey key{3, 4};
  m->set_sample(&key, 5, 6);
  const auto out = m->forward(x), gin = m->backward(g);
  int dropped = 0;
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    const bool keep = dropout_keep(key, 5, 6, i, dropout_threshold(0.25f));
    const double f = keep ? 1.0 / 0.75 : 0.0;
    EXPECT_EQ(out.data[i], x.data[i] * f) << i;
    EXPECT_EQ(gin.data[i], g.data[i] * f) << i;
    dropped += !keep;
  }
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, int(x.data.size()));
  // Finite differences in double through the fixed mask: d/dx sum(c * out) = backward(c).
  const double h = 1e-6;
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    reference::Tensor<double> xp = x, xm = x;
    xp.data[i] += h;
    xm.data[i] -= h;
    double fp = 0, fm = 0;
    const auto op = m->forward(xp);
    for (std::size_t j = 0; j < op.data.size(); ++j) fp += g.data[j] * op.data[j];
    const auto om = m->forward(xm);
    for (std::size_t j = 0; j < om.data.size(); ++j) fm += g.data[j] * om.data[j];
    EXPECT_NEAR((fp - fm) / (2 * h), gin.data[i], 1e-6) << i;
  }
}

namespace {

const char* kModel =
    "conv(1,3,k=3,pad=1) relu dropout(0.25) maxpool(2) flatten dense(48,16) relu dropout(0.5) "
    "dense(16,10)";

}  // namespace

// Both paths drop the same elements: the gradients of the first dense layer are zero in exactly
// the same places (a dropped input contributes nothing), and every gradient agrees with the double
// oracle within the parity tolerance; steps too.
TEST(DropoutParity, BothPathsDropTheSameElementsAndAgree) {
  const ModelSpec spec = parse_model(kModel);
  const Parameters p0 = Parameters::he_uniform(spec, 9);
  Rng rng(10);
  const int n = 37;
  const std::vector<float> images = random_images(rng, n, spec.input);
  const std::vector<int> labels = random_labels(rng, n, 10);
  const Batch b{images.data(), labels.data(), n};
  reference::Network<double> ref(spec, p0);
  auto fast = fast::make_network(spec, p0);
  // One sample: a dense weight's gradient is zero exactly where its input was dropped.
  const Batch one{images.data(), labels.data(), 1};
  const Parameters gr = ref.gradients(one), gf = fast->gradients(one);
  const std::vector<float>& wr = gr.layers[5].weights;
  const std::vector<float>& wf = gf.layers[5].weights;
  int zeros = 0;
  for (std::size_t i = 0; i < wr.size(); ++i) {
    EXPECT_EQ(wr[i] == 0.0f, wf[i] == 0.0f) << i;
    zeros += wr[i] == 0.0f;
  }
  EXPECT_GT(zeros, 0);
  test::expect_within_tolerance(test::flat(fast->gradients(b)), test::flat(ref.gradients(b)), "gradients");
  Sgd sgd{0.05f, 0.9f, 0.0f};
  sgd.seed = 11;
  for (int s = 1; s <= 3; ++s) {
    sgd.step = s;
    ref.sgd_step(b, sgd);
    fast->sgd_step(b, sgd);
    test::expect_within_tolerance(test::flat(fast->parameters()), test::flat(ref.parameters()),
                                  "parameters after step " + std::to_string(s));
  }
  // Another step number draws other masks: the parameters move elsewhere.
  auto a = fast::make_network(spec, p0), c = fast::make_network(spec, p0);
  sgd.step = 1;
  a->sgd_step(b, sgd);
  sgd.step = 2;
  c->sgd_step(b, sgd);
  EXPECT_NE(a->parameters(), c->parameters());
}

// Prediction is the identity through dropout: the logits of the model without its dropout layers.
TEST(DropoutParity, PredictionIgnoresDropout) {
  const ModelSpec with = parse_model(kModel);
  const ModelSpec without = parse_model(
      "conv(1,3,k=3,pad=1) relu maxpool(2) flatten dense(48,16) relu dense(16,10)");
  const Parameters p = Parameters::he_uniform(with, 12);
  Parameters q;
  for (std::size_t l = 0; l < with.layers.size(); ++l)
    if (with.layers[l].kind != LayerKind::Dropout) q.layers.push_back(p.layers[l]);
  Rng rng(13);
  const std::vector<float> images = random_images(rng, 20, with.input);
  for (PathKind path : {PathKind::Reference, PathKind::Fast}) {
    std::vector<float> a(20 * 10), b(20 * 10);
    make_network(path, with, p)->predict(images, a);
    make_network(path, without, q)->predict(images, b);
    EXPECT_EQ(a, b) << path_name(path);
  }
}
