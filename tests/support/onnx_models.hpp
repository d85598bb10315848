#pragma once
// Models and parameters the ONNX export tests share (test_onnx*.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::test {

// Every layer kind: a per-channel normalize, conv with padding, batch norm, tanh, avgpool with a
// stride below its window, a strided conv, sigmoid, maxpool, conv, relu, dropout, gap, flatten,
// dense, batch norm per feature, sigmoid, dense; for a 2x13x13 input.
inline constexpr const char* kEveryLayerModelText =
    "normalize(mean=0.25:0.5,std=0.5:2) conv(2,4,k=3,pad=1) batchnorm tanh avgpool(3,stride=2) conv(4,6,k=3,stride=2,pad=2) sigmoid maxpool(2) "
    "conv(6,8,k=2) relu dropout(0.5) gap flatten dense(8,12) batchnorm sigmoid dense(12,5)";
inline constexpr Shape kEveryLayerInput{2, 13, 13, false};

// A named model for the export tests: the built-in ones, the every-layer model.
struct NamedModel {
  std::string name;
  ModelSpec spec;
};
std::vector<NamedModel> onnx_test_models();

// `count` random models the library accepts (parse_model), drawn from Rng(seed): a random small
// input, convolutions (random kernel and padding), pools and pointwise layers while the shape
// allows, flatten, then dense and pointwise layers, ending with dense.
std::vector<ModelSpec> random_valid_models(std::uint64_t seed, int count);

// He-uniform weights (seed) with biases drawn uniform in [-0.5, 0.5): nonzero biases, so that a
// bias in the wrong place shows.
Parameters export_test_parameters(const ModelSpec& spec, std::uint64_t seed);

}  // namespace scratchcnn::test
