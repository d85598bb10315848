// The fast path's own structure: the one chunk-ordered reduction, the convolution list, and
// Network::describe on both paths.
#include <limits>
#include <string>
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

TEST(FastReduce, AddsThePartialsInChunkOrder) {
  // In float, (1 + 1e8) - 1e8 = 0 but (1e8 - 1e8) + 1 = 1: each column's sum tells whether its
  // terms were added in chunk order.
  const std::size_t stride = 4;  // 2 floats used per chunk, 2 floats of gap that must be ignored
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> partials = {1.0f, 1e8f,  nan, nan,   // chunk 0
                                       1e8f, -1e8f, nan, nan,   // chunk 1
                                       -1e8f, 1.0f, nan, nan};  // chunk 2
  std::vector<float> sum(2, -7.0f);
  fast::reduce_chunks(partials.data(), stride, 3, 2, sum.data());
  const float want0 = (1.0f + 1e8f) + -1e8f;
  const float want1 = (1e8f + -1e8f) + 1.0f;
  EXPECT_EQ(want0, 0.0f);
  EXPECT_EQ(want1, 1.0f);
  EXPECT_EQ(sum[0], want0);
  EXPECT_EQ(sum[1], want1);
}

TEST(FastReduce, OneChunkIsCopiedAndNoChunkIsZero) {
  const std::vector<float> partials = {3.5f, -2.0f, 9.0f};
  std::vector<float> sum(3, -7.0f);
  fast::reduce_chunks(partials.data(), 3, 1, 3, sum.data());
  EXPECT_EQ(sum, partials);
  fast::reduce_chunks(partials.data(), 3, 0, 3, sum.data());
  EXPECT_EQ(sum, std::vector<float>(3, 0.0f));
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
