#pragma once
// How a fast network runs a model: which layers fuse or alias, each layer's kernel options, and
// the layout of one thread's workspace. Built from the spec and the options alone, so a memory
// estimate (fast::footprint) and a network see the same sizes.
#include <cstddef>
#include <memory>
#include <vector>

#include "fast/flat_params.hpp"
#include "fast/kernel.hpp"
#include "fast/network.hpp"

namespace scratchcnn::fast {

struct Plan {
  Plan(const ops::Table& table, const ModelSpec& spec, const Options& options);

  // Per layer: its output is its input (no buffer of its own): flatten, and a ReLU fused into the
  // conv or dense layer before it.
  std::vector<bool> alias;
  // Per layer: a ReLU fused into the layer before it has no kernel.
  std::vector<bool> fused;
  std::vector<KernelOptions> kernel;
  // Layers before the first one with parameters need no backward; it needs no input gradient.
  std::size_t first_param = 0;
  // Per-thread workspace, in floats: act[0] is the packed input chunk, act[l + 1] the output of
  // layer l; grad[l] the gradient wrt act[l]; scratch[l] the scratch of layer l's kernel.
  std::vector<std::size_t> act, grad, scratch;
  std::size_t workspace_floats = 0;
};

// Per layer of the plan: its kernel on `table`, reading its parameters from the flat array
// `params` (FlatLayout), or null for a fused ReLU.
std::vector<std::unique_ptr<LayerKernel>> make_kernels(const ops::Table& table,
                                                       const ModelSpec& spec, const Plan& plan,
                                                       const FlatLayout& layout,
                                                       const float* params);

}  // namespace scratchcnn::fast
