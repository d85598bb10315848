// The convolution algorithm in the library: TrainOptions::conv, the memory estimate, and its
// record in checkpoints (version 3 only when it is not auto, so default runs keep their version 2
// bytes). The command line's --conv-algo: test_conv_algo_cli.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/rng.hpp"
#include "scratchcnn/trainer.hpp"
#include "checkpoint_bytes.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

Checkpoint small_checkpoint(ConvAlgo conv) {
  Checkpoint c;
  c.spec = model_from_name("seed");
  c.params = Parameters::he_uniform(c.spec, 3);
  c.state.velocity = Parameters::zeros(c.spec);
  c.state.options.epochs = 2;
  c.state.options.conv = conv;
  c.state.isa = "avx2";
  return c;
}

}  // namespace

TEST(ConvAlgoCheckpoint, AutoWritesVersion2AndAChosenAlgorithmVersion3) {
  const Checkpoint a = small_checkpoint(ConvAlgo::Auto);
  const std::string v2 = serialize_checkpoint(a.spec, a.params, a.state);
  EXPECT_EQ(version_of(v2), 2u);
  for (const ConvAlgo conv : {ConvAlgo::Direct, ConvAlgo::Im2col}) {
    const Checkpoint c = small_checkpoint(conv);
    const std::string v3 = serialize_checkpoint(c.spec, c.params, c.state);
    EXPECT_EQ(version_of(v3), 3u);
    EXPECT_EQ(v3.size(), v2.size() + 4);  // the algorithm's u32, nothing else
    const Checkpoint back = deserialize_checkpoint(v3, "run.ckpt");
    EXPECT_EQ(back.state.options.conv, conv);
    EXPECT_EQ(serialize_checkpoint(back.spec, back.params, back.state), v3);
  }
  EXPECT_EQ(deserialize_checkpoint(v2, "run.ckpt").state.options.conv, ConvAlgo::Auto);
}

TEST(ConvAlgoCheckpoint, AVersion3WithAnUnknownAlgorithmIsCorrupted) {
  const Checkpoint c = small_checkpoint(ConvAlgo::Direct);
  const std::string good = serialize_checkpoint(c.spec, c.params, c.state);
  // The algorithm sits after the level: the 4 bytes before the history length (u32 0) and the
  // checksum.
  for (const std::uint32_t bad : {0u, 3u, 0xffffffffu}) {
    std::string bytes = good;
    std::memcpy(bytes.data() + bytes.size() - 8 - 4 - 4, &bad, 4);
    bytes = resealed(bytes);
    EXPECT_TRUE(has(error_of([&] { (void)deserialize_checkpoint(bytes, "run.ckpt"); }),
                    "run.ckpt: corrupted checkpoint (convolution algorithm " + std::to_string(bad)));
  }
}

TEST(ConvAlgoCheckpoint, AVersion2FileWithTheAlgorithmFieldIsNotReadAsVersion3) {
  // A version 2 file has no algorithm: the same bytes labelled version 2 hold 4 bytes too many.
  const Checkpoint c = small_checkpoint(ConvAlgo::Im2col);
  std::string bytes = serialize_checkpoint(c.spec, c.params, c.state);
  const std::uint32_t two = 2;
  std::memcpy(bytes.data() + 8, &two, 4);
  bytes = resealed(bytes);
  EXPECT_TRUE(has(error_of([&] { (void)deserialize_checkpoint(bytes, "run.ckpt"); }),
                  "corrupted checkpoint"));
}

TEST(ConvAlgoMemory, TheEstimateAndTrainsBudgetUseTheChosenAlgorithm) {
  const ModelSpec spec = model_from_name("conv(1,8,k=5,pad=2) relu conv(8,8,k=5,pad=2) relu flatten dense(512,10)");
  const auto total = [&](PathKind p, ConvAlgo conv) {
    // As train() estimates: the batch on max_threads() threads.
    return estimate_memory(p, spec, 64, 0, MemoryUse::Training, NetworkOptions{conv}).total();
  };
  const std::uint64_t direct = total(PathKind::Fast, ConvAlgo::Direct);
  const std::uint64_t im2col = total(PathKind::Fast, ConvAlgo::Im2col);
  ASSERT_NE(direct, im2col);  // im2col's column buffers
  EXPECT_EQ(total(PathKind::Reference, ConvAlgo::Direct), total(PathKind::Reference, ConvAlgo::Im2col));

  // train() checks TrainOptions::max_memory with the algorithm of TrainOptions::conv.
  const data::Dataset d = random_dataset(2, 64, spec.input, 10);
  TrainOptions opt;
  opt.epochs = 0;
  opt.batch = 64;
  const std::uint64_t data = 2 * dataset_bytes(d) + 64 * (64 * 4 + 4);
  const auto over_budget = [&](ConvAlgo conv) {
    opt.conv = conv;
    opt.max_memory = std::min(direct, im2col) + data + (std::max(direct, im2col) - std::min(direct, im2col)) / 2;
    auto net = make_network(PathKind::Fast, spec, Parameters::zeros(spec), NetworkOptions{conv});
    try {
      (void)scratchcnn::train(*net, d, d, opt);
      return false;
    } catch (const Error&) {
      return true;
    }
  };
  const ConvAlgo larger = im2col > direct ? ConvAlgo::Im2col : ConvAlgo::Direct;
  const ConvAlgo smaller = im2col > direct ? ConvAlgo::Direct : ConvAlgo::Im2col;
  EXPECT_TRUE(over_budget(larger));
  EXPECT_FALSE(over_budget(smaller));
}


// A network knows the options it was built with; train() refuses a network built with another
// algorithm than TrainOptions::conv (the checkpoint would record the wrong one), and neither
// train() nor the checkpoint writer takes a value outside the enum.
TEST(ConvAlgoCheckpoint, TrainAndTheWriterHoldTheNetworkToTheRecordedAlgorithm) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = Parameters::zeros(spec);
  const data::Dataset d = random_dataset(5, 32, spec.input, 10);
  auto im2col = make_network(PathKind::Fast, spec, p, NetworkOptions{ConvAlgo::Im2col});
  EXPECT_EQ(im2col->options().conv, ConvAlgo::Im2col);
  EXPECT_EQ(make_network(PathKind::Reference, spec, p)->options().conv, ConvAlgo::Auto);
  TrainOptions opt;
  opt.epochs = 1;
  opt.batch = 16;
  EXPECT_TRUE(has(error_of([&] { (void)scratchcnn::train(*im2col, d, d, opt); }),
                  "conv is auto but the network was built with im2col"));
  opt.conv = ConvAlgo::Im2col;
  EXPECT_EQ(scratchcnn::train(*im2col, d, d, opt).size(), 1u);

  opt.conv = static_cast<ConvAlgo>(7);
  EXPECT_TRUE(has(error_of([&] { validate(opt); }), "convolution algorithm 7 is not auto"));
  EXPECT_TRUE(has(error_of([&] {
                    (void)make_network(PathKind::Fast, spec, p, NetworkOptions{opt.conv});
                  }),
                  "convolution algorithm 7"));
  Checkpoint c = small_checkpoint(ConvAlgo::Direct);
  c.state.options.conv = static_cast<ConvAlgo>(7);
  EXPECT_TRUE(has(error_of([&] { (void)serialize_checkpoint(c.spec, c.params, c.state); }),
                  "checkpoint: convolution algorithm 7"));
}

// A strided convolution runs on im2col only: auto chooses it, and naming direct is an error that
// says what direct runs. A model with stride-1 and strided layers mixes the two under auto.
TEST(ConvAlgoStride, AutoChoosesIm2colAndDirectIsRefusedByName) {
  const ModelSpec spec = model_from_name(
      "conv(1,4,k=3,pad=1) relu conv(4,8,k=3,stride=2,pad=1) relu flatten dense(128,10)");
  const Parameters p = Parameters::zeros(spec);
  EXPECT_NO_THROW((void)make_network(PathKind::Fast, spec, p, NetworkOptions{ConvAlgo::Auto}));
  EXPECT_NO_THROW((void)make_network(PathKind::Fast, spec, p, NetworkOptions{ConvAlgo::Im2col}));
  const std::string err = error_of(
      [&] { (void)make_network(PathKind::Fast, spec, p, NetworkOptions{ConvAlgo::Direct}); });
  EXPECT_TRUE(has(err, "direct convolution does not run conv(4,8,k=3,stride=2,pad=1)")) << err;
  EXPECT_TRUE(has(err, "stride 1 only")) << err;
  // The memory estimate chooses as make_network does.
  EXPECT_GT(estimate_memory(PathKind::Fast, spec, 16, 0, MemoryUse::Training,
                            NetworkOptions{ConvAlgo::Auto})
                .total(),
            0u);
}
