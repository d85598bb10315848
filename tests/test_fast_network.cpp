// fast::Network and the chunk layout on their own: layout round trips, errors, the NaN rule,
// predict vs the training forward, and that fusion and the convolution algorithm change nothing
// where the arithmetic is exact.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

#include "scratchcnn/error.hpp"
#include "fast/layout.hpp"
#include "fast/network.hpp"
#include "scratchcnn/rng.hpp"

namespace {

using namespace scratchcnn;

using test::random_images;
using test::random_labels;

// The seed model with He-uniform parameters (seed 2) on the fast path, and n random images drawn
// from Rng(rng_seed) (which the test may go on drawing from).
struct SeedSetup {
  ModelSpec spec = model_from_name("seed");
  Parameters p = Parameters::he_uniform(spec, 2);
  std::unique_ptr<Network> net = fast::make_network(spec, p);
  Rng rng;
  std::vector<float> x;
  explicit SeedSetup(std::uint64_t rng_seed = 0, int n = 0)
      : rng(rng_seed), x(random_images(rng, n, spec.input)) {}
};

class FastNetwork : public scratchcnn::test::IsaTest {};
SCRATCHCNN_TEST_EVERY_ISA(FastNetwork);

TEST(FastLayout, PackUnpackRoundTrip) {
  for (int n : {1, 15, 16, 17, 40}) {
    const std::int64_t f = 7;
    std::vector<float> a(std::size_t(n) * f);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = float(i) + 0.5f;
    fast::AlignedBuffer buf(fast::chunked_size(n, f));
    fast::pack_batch(a.data(), n, f, buf.data());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buf.data()) % 64, 0u);
    // sample s, feature j at [(s / 16 * f + j) * 16 + s % 16]; padding lanes are 0
    for (int s = 0; s < fast::chunk_count(n) * fast::kChunk; ++s)
      for (std::int64_t j = 0; j < f; ++j) {
        const float v = buf.data()[(s / fast::kChunk * f + j) * fast::kChunk + s % fast::kChunk];
        EXPECT_EQ(v, s < n ? a[std::size_t(s * f + j)] : 0.0f);
      }
    std::vector<float> b(a.size());
    fast::unpack_batch(buf.data(), n, f, b.data());
    EXPECT_EQ(a, b);
  }
}

TEST_P(FastNetwork, NameSpecAndParametersRoundTrip) {
  const SeedSetup s;
  EXPECT_EQ(s.net->name(), "fast");
  EXPECT_EQ(s.net->spec().text(), s.spec.text());
  EXPECT_TRUE(s.net->parameters() == s.p);
  const std::string d = s.net->describe();
  EXPECT_NE(d.find("relu: fused"), std::string::npos) << d;
}

TEST_P(FastNetwork, RejectsBadLabelsWithoutTouchingParameters) {
  SeedSetup s(1, 20);
  const std::vector<float>& x = s.x;
  auto& net = s.net;
  for (int bad : {-1, 10, 1000}) {
    std::vector<int> labels = random_labels(s.rng, 20, 10);
    labels[17] = bad;
    try {
      net->train_step(Batch{x.data(), labels.data(), 20}, 0.1f);
      ADD_FAILURE() << "label " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("label " + std::to_string(bad)), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("sample 17"), std::string::npos) << e.what();
    }
    EXPECT_THROW(net->gradients(Batch{x.data(), labels.data(), 20}), Error);
  }
  EXPECT_TRUE(net->parameters() == s.p);
}

TEST_P(FastNetwork, NonFiniteLossThrowsAndLeavesParameters) {
  // No ReLU between the input and the logits: a ReLU maps NaN and -inf to 0, as the reference's does.
  const ModelSpec spec = parse_model("conv(1,2,k=3,pad=1) flatten dense(128,10)", Shape{1, 8, 8, false});
  const Parameters p = Parameters::he_uniform(spec, 2);
  auto net = fast::make_network(spec, p);
  Rng rng(1);
  for (float poison : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = random_images(rng, 40, spec.input);
    const std::vector<int> labels = random_labels(rng, 40, 10);
    x[33 * 64 + 20] = poison;
    try {
      net->train_step(Batch{x.data(), labels.data(), 40}, 0.1f);
      ADD_FAILURE() << "no error for input " << poison;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_TRUE(m.find("NaN") != std::string::npos || m.find("infinite") != std::string::npos) << m;
    }
    EXPECT_TRUE(net->parameters() == p);
  }
  // Still usable afterwards.
  const std::vector<float> x = random_images(rng, 40, spec.input);
  const std::vector<int> labels = random_labels(rng, 40, 10);
  EXPECT_TRUE(std::isfinite(net->train_step(Batch{x.data(), labels.data(), 40}, 0.1f).loss));
  EXPECT_FALSE(net->parameters() == p);
}

TEST_P(FastNetwork, PredictMatchesAnyBatchSplit) {
  // Logits do not depend on which chunk a sample lands in.
  const ModelSpec spec = model_from_name("lenet5");
  auto net = fast::make_network(spec, Parameters::he_uniform(spec, 6));
  Rng rng(2);
  const int n = 37;
  const std::vector<float> x = random_images(rng, n, spec.input);
  std::vector<float> all(std::size_t(n) * 10), one(10);
  net->predict(x, all);
  for (int s : {0, 15, 16, 36}) {
    const std::size_t size = std::size_t(spec.input.size());
    one = net->predict_one({x.data() + std::size_t(s) * size, size});
    for (int j = 0; j < 10; ++j) EXPECT_EQ(one[j], all[std::size_t(s) * 10 + j]) << s << "," << j;
  }
}

// With small-integer data every sum is exact, so a fused ReLU (an exact mask) and either
// convolution algorithm must give the very same bits after a step.
TEST_P(FastNetwork, FusionAndAlgorithmAreExactWithIntegerData) {
  const ModelSpec spec = parse_model(
      "conv(2,3,k=3,pad=1) relu conv(3,4,k=3) relu maxpool(2) flatten dense(16,6) relu dense(6,3)",
      Shape{2, 6, 6, false});
  Parameters p = Parameters::zeros(spec);
  Rng rng(3);
  for (auto& l : p.layers) {
    for (float& w : l.weights) w = float(int(rng.below(5)) - 2);
    for (float& b : l.bias) b = float(int(rng.below(3)) - 1);
  }
  const int n = 29;
  std::vector<float> x(std::size_t(n) * 72);
  for (float& v : x) v = float(int(rng.below(5)) - 2);
  const std::vector<int> labels = random_labels(rng, n, 3);
  std::vector<Parameters> got;
  for (fast::ConvAlgo a : {fast::ConvAlgo::Direct, fast::ConvAlgo::Im2col})
    for (bool fuse : {true, false}) {
      auto net = fast::make_network(spec, p, fast::Options{a, fuse});
      got.push_back(net->gradients(Batch{x.data(), labels.data(), n}));
    }
  for (std::size_t i = 1; i < got.size(); ++i) EXPECT_TRUE(got[i] == got[0]) << "variant " << i;
}

TEST_P(FastNetwork, BatchSizesGrowAndShrink) {
  SeedSetup s(4, 200);
  const std::vector<float>& x = s.x;
  auto& a = s.net;
  const std::vector<int> labels = random_labels(s.rng, 200, 10);
  // Same batch computed after a larger and a smaller one gives the same gradients as fresh.
  const Parameters g0 = fast::make_network(s.spec, s.p)->gradients(Batch{x.data(), labels.data(), 50});
  a->gradients(Batch{x.data(), labels.data(), 200});
  a->gradients(Batch{x.data(), labels.data(), 3});
  EXPECT_TRUE(a->gradients(Batch{x.data(), labels.data(), 50}) == g0);
}

}  // namespace
