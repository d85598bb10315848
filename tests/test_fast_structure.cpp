// The fast path's own structure: the one reduction (a tree over chunk indices) and the chunk
// shares of data-parallel ranks, the convolution list, and Network::describe on both paths.
#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "fast/layer.hpp"
#include "fast/network.hpp"
#include "fast/reduce.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"

namespace {

using namespace scratchcnn;

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> r;
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t end = s.find('\n', at);
    if (end == std::string::npos) {
      r.push_back(s.substr(at));
      break;
    }
    r.push_back(s.substr(at, end - at));
    at = end + 1;
  }
  return r;
}

TEST(FastReduce, AddsThePartialsInAPairwiseTreeOverChunkIndices) {
  // reduce.hpp's tree for 5 chunks: ((c0 + c1) + (c2 + c3)) + c4. In float, 1e8 + 1 = 1e8, so
  // each column's sum tells which terms were added to which. Column 0 is 0.5 in the tree and 1.5
  // in chunk order; column 1 is 1 in the tree and 0 if the last chunk joined the pair before it,
  // (c0 + c1) + ((c2 + c3) + c4).
  const std::size_t stride = 4;  // 2 floats used per chunk, 2 floats of gap that must be ignored
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> partials = {1e8f,  -1e8f, nan, nan,   // chunk 0
                                 1.0f,  0.0f,  nan, nan,   // chunk 1
                                 -1e8f, 1e8f,  nan, nan,   // chunk 2
                                 1.0f,  0.0f,  nan, nan,   // chunk 3
                                 0.5f,  1.0f,  nan, nan};  // chunk 4
  const auto c = [&](int q, int col) { return partials[std::size_t(q) * stride + std::size_t(col)]; };
  float tree[2], in_order[2], tail_late[2];
  for (int col = 0; col < 2; ++col) {
    tree[col] = ((c(0, col) + c(1, col)) + (c(2, col) + c(3, col))) + c(4, col);
    in_order[col] = (((c(0, col) + c(1, col)) + c(2, col)) + c(3, col)) + c(4, col);
    tail_late[col] = (c(0, col) + c(1, col)) + ((c(2, col) + c(3, col)) + c(4, col));
  }
  EXPECT_EQ(tree[0], 0.5f);
  EXPECT_EQ(in_order[0], 1.5f);
  EXPECT_EQ(tree[1], 1.0f);
  EXPECT_EQ(tail_late[1], 0.0f);
  std::vector<float> sum(2, -7.0f);
  fast::reduce_chunks(partials.data(), stride, 5, 2, sum.data());
  EXPECT_EQ(sum[0], tree[0]);
  EXPECT_EQ(sum[1], tree[1]);
}

TEST(FastReduce, OneLevelAddsOnlyTheNodesInItsRange) {
  // reduce_level(width 1) over nodes [2, 6) of 7 chunks adds 3 into 2 and 5 into 4, nothing else;
  // node 6 has no right child.
  std::vector<float> p = {1, 2, 3, 4, 5, 6, 7};
  fast::reduce_level(p.data(), 1, 7, 1, 1, 2, 6);
  EXPECT_EQ(p, (std::vector<float>{1, 2, 7, 4, 11, 6, 7}));
  // Width 2 over every node: 0 += 2, 4 += 6.
  fast::reduce_level(p.data(), 1, 7, 1, 2, 0, 7);
  EXPECT_EQ(p, (std::vector<float>{8, 2, 7, 4, 18, 6, 7}));
  // A range that starts inside a pair starts at the next node: [1, 4) at width 2 holds none.
  fast::reduce_level(p.data(), 1, 7, 1, 2, 1, 4);
  EXPECT_EQ(p, (std::vector<float>{8, 2, 7, 4, 18, 6, 7}));
}

TEST(FastReduce, OneChunkIsCopiedAndNoChunkIsZero) {
  std::vector<float> partials = {3.5f, -2.0f, 9.0f};
  std::vector<float> sum(3, -7.0f);
  fast::reduce_chunks(partials.data(), 3, 1, 3, sum.data());
  EXPECT_EQ(sum, partials);
  fast::reduce_chunks(partials.data(), 3, 0, 3, sum.data());
  EXPECT_EQ(sum, std::vector<float>(3, 0.0f));
}

TEST(FastReduce, ChunkSharesAreEvenSharesOnTheGrainAndCoverEveryChunkOnce) {
  // Fewer than 16 chunks per rank: grain 1, the floors of even shares.
  EXPECT_EQ(fast::chunk_share(7, 3, 0), std::make_pair(0, 2));
  EXPECT_EQ(fast::chunk_share(7, 3, 1), std::make_pair(2, 4));
  EXPECT_EQ(fast::chunk_share(7, 3, 2), std::make_pair(4, 7));
  // More ranks than chunks: 3 chunks on 5 ranks; ranks 0 and 2 get none.
  const std::pair<int, int> want[] = {{0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 3}};
  for (int r = 0; r < 5; ++r) EXPECT_EQ(fast::chunk_share(3, 5, r), want[r]) << r;
  // 1000 chunks on 3 ranks: grain 32 (<= 1000 / 24), so 333 and 666 round down to 320 and 640.
  EXPECT_EQ(fast::chunk_share(1000, 3, 0), std::make_pair(0, 320));
  EXPECT_EQ(fast::chunk_share(1000, 3, 1), std::make_pair(320, 640));
  EXPECT_EQ(fast::chunk_share(1000, 3, 2), std::make_pair(640, 1000));
  for (int chunks : {1, 2, 3, 7, 16, 63, 100, 1000, 4096})
    for (int ranks : {1, 2, 3, 4, 5, 8, 64}) {
      int next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [first, last] = fast::chunk_share(chunks, ranks, r);
        ASSERT_EQ(first, next) << chunks << " " << ranks << " " << r;
        ASSERT_LE(first, last);
        // No share exceeds an even one by more than an eighth of it plus one chunk.
        EXPECT_LE(last - first, chunks / ranks + chunks / (8 * ranks) + 1)
            << chunks << " " << ranks << " " << r;
        for (int q = first; q < last; ++q) ASSERT_EQ(fast::chunk_owner(chunks, ranks, q), r);
        next = last;
      }
      EXPECT_EQ(next, chunks);
    }
}

// The messages of one step's reduction (fast::reduce_across walks the same nodes): a rank
// sends or receives at most one node per tree level that has a node split between two ranks, and
// with the shares on the grain, a rank's messages stay near log2(ranks) whatever the batch.
TEST(FastReduce, MessagesPerRankGrowWithTheRanksNotWithTheBatch) {
  for (int ranks : {2, 3, 5, 7, 8, 13, 64}) {
    int log2_ranks = 0;
    while ((1 << log2_ranks) < ranks) ++log2_ranks;
    for (int chunks = ranks; chunks <= 4096; chunks = chunks * 3 / 2 + 1) {
      std::vector<int> messages(static_cast<std::size_t>(ranks), 0);
      for (int w = 1; w < chunks; w *= 2)
        for (int a = 0; a + w < chunks; a += 2 * w) {
          const int left = fast::chunk_owner(chunks, ranks, a);
          const int right = fast::chunk_owner(chunks, ranks, a + w);
          if (left == right) continue;
          ++messages[static_cast<std::size_t>(left)];
          ++messages[static_cast<std::size_t>(right)];
        }
      const int most = *std::max_element(messages.begin(), messages.end());
      EXPECT_LE(most, 2 * (log2_ranks + 2)) << chunks << " chunks, " << ranks << " ranks";
    }
  }
}

TEST(FastConvList, AutoChoosesDirectForTheBuiltinModels) {
  // Auto's choice fixes the bits of every checkpoint a default run writes.
  for (const char* name : {"seed", "lenet5"}) {
    const ModelSpec spec = model_from_name(name);
    for (std::size_t l = 0; l < spec.layers.size(); ++l) {
      if (spec.layers[l].kind != LayerKind::Conv) continue;
      EXPECT_EQ(fast::choose_conv_algo(spec.layers[l], spec.info[l]), ConvAlgo::Direct)
          << name << " layer " << l;
    }
  }
  const ModelSpec wide = parse_model("conv(32,64,k=3,pad=1) relu flatten dense(50176,10)",
                                     Shape{32, 28, 28});
  EXPECT_EQ(fast::choose_conv_algo(wide.layers[0], wide.info[0]), ConvAlgo::Direct);
}

TEST(FastConvList, ForcedAlgorithmsMakeTheirKernel) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = Parameters::he_uniform(spec, 1);
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2col}) {
    fast::Layer layer(spec.layers[0], spec.info[0], p.layers[0], a);
    EXPECT_EQ(std::string(layer.kernel().algorithm()), conv_algo_name(a));
    fast::KernelOptions o;
    o.conv = a;
    EXPECT_EQ(fast::scratch_floats(spec.layers[0], spec.info[0], o),
              layer.kernel().scratch_floats());
  }
}

TEST(Describe, FastSaysTheKernelFusionAndLevelOfEveryLayer) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = Parameters::he_uniform(spec, 1);
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2col}) {
    fast::Options o;
    o.conv = a;
    auto net = fast::make_network(spec, p, o);
    const std::vector<std::string> d = lines(net->describe());
    ASSERT_EQ(d.size(), spec.layers.size()) << net->describe();
    const std::string isa = fast::active_isa();
    for (std::size_t l = 0; l < spec.layers.size(); ++l) {
      const LayerSpec& s = spec.layers[l];
      std::string want = s.text() + ": ";
      if (s.kind == LayerKind::Conv)
        want += std::string(conv_algo_name(a)) + " +relu, " + isa;
      else if (s.kind == LayerKind::Dense)
        want += std::string("direct") + (spec.layers[l + 1].kind == LayerKind::ReLU ? " +relu" : "") +
                ", " + isa;
      else if (s.kind == LayerKind::ReLU)
        want += "fused into the layer before";
      else if (s.kind == LayerKind::Flatten)
        want += "view";
      else
        want += isa;  // maxpool: one way of working, said by its level alone
      EXPECT_EQ(d[l], want);
    }
  }
}

TEST(Describe, ReferenceSaysReferenceForEveryLayer) {
  const ModelSpec spec = model_from_name("seed");
  auto net = make_network(PathKind::Reference, spec, Parameters::he_uniform(spec, 1));
  const std::vector<std::string> d = lines(net->describe());
  ASSERT_EQ(d.size(), spec.layers.size());
  for (std::size_t l = 0; l < spec.layers.size(); ++l)
    EXPECT_EQ(d[l], spec.layers[l].text() + ": reference");
}

}  // namespace
