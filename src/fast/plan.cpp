#include "fast/plan.hpp"

namespace scratchcnn::fast {
namespace {

// Lays out one thread's workspace: the activations, each layer's scratch, then the gradients
// grad[L..0]. Aliased layers share their input's buffers.
void lay_out_workspace(const ModelSpec& spec, Plan& p) {
  const std::size_t layers = spec.layers.size();
  p.act.assign(layers + 1, 0);
  p.grad.assign(layers + 1, 0);
  std::vector<std::size_t> sizes = p.scratch;
  p.scratch.assign(layers, 0);
  std::size_t cur = 0;
  auto take = [&cur](std::size_t n) {
    const std::size_t at = cur;
    cur += align_floats(n);
    return at;
  };
  p.act[0] = take(std::size_t(spec.input.size()) * kChunk);
  for (std::size_t l = 0; l < layers; ++l) {
    p.act[l + 1] = p.alias[l] ? p.act[l] : take(std::size_t(spec.info[l].out.size()) * kChunk);
    p.scratch[l] = take(sizes[l]);
  }
  p.grad[layers] = take(std::size_t(spec.classes()) * kChunk);
  for (std::size_t l = layers; l-- > 0;)
    p.grad[l] = p.alias[l] ? p.grad[l + 1] : take(std::size_t(spec.info[l].in.size()) * kChunk);
  p.workspace_floats = cur;
}

}  // namespace

Plan::Plan(const ops::Table& table, const ModelSpec& spec, const Options& options) {
  const std::size_t layers = spec.layers.size();
  alias.assign(layers, false);
  fused.assign(layers, false);
  kernel.assign(layers, KernelOptions{options.conv, false});
  scratch.assign(layers, 0);  // the sizes, until lay_out_workspace turns them into offsets
  first_param = layers;
  // A ReLU fuses into the conv or dense layer before it (not into batch norm).
  const auto fuses = [&](std::size_t l) {
    return spec.layers[l].kind == LayerKind::Conv || spec.layers[l].kind == LayerKind::Dense;
  };
  for (std::size_t l = 0; l < layers; ++l) {
    const LayerSpec& s = spec.layers[l];
    fused[l] = s.kind == LayerKind::ReLU && l > 0 && options.fuse_relu && fuses(l - 1);
    alias[l] = s.kind == LayerKind::Flatten || fused[l];
    kernel[l].fuse_relu = options.fuse_relu && fuses(l) && l + 1 < layers &&
                          spec.layers[l + 1].kind == LayerKind::ReLU;
    if (s.has_params() && first_param == layers) first_param = l;
    if (!alias[l]) scratch[l] = scratch_floats(table, s, spec.info[l], kernel[l]);
  }
  lay_out_workspace(spec, *this);
}

std::vector<std::unique_ptr<LayerKernel>> make_kernels(const ops::Table& table,
                                                       const ModelSpec& spec, const Plan& plan,
                                                       const FlatLayout& layout,
                                                       const float* params) {
  std::vector<std::unique_ptr<LayerKernel>> kernels(spec.layers.size());
  for (std::size_t l = 0; l < kernels.size(); ++l) {
    if (plan.fused[l]) continue;
    const bool hp = spec.layers[l].has_params();
    kernels[l] = make_kernel(table, spec.layers[l], spec.info[l],
                             hp ? params + layout.weights(l) : nullptr,
                             hp ? params + layout.bias(l) : nullptr, plan.kernel[l]);
  }
  return kernels;
}

}  // namespace scratchcnn::fast
