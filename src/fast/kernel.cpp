// make_kernel and scratch_floats: the kernel of each layer kind, and flatten (a view).
#include "fast/kernel.hpp"

#include <memory>

#include "fast/batchnorm.hpp"
#include "fast/conv_list.hpp"
#include "fast/ops/ops.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::fast {

const char* IsaKernel::isa() const { return k_.level; }

namespace {

// Flatten: channel-major chunk tensors are already flat (layout.hpp), so the output is the input.
class Flatten final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  bool is_view() const override { return true; }
  void forward(const float*, float*, float*) const override {}
  void backward(const float*, const float*, float*, float*, float*, float*, float*) const override {}
};

std::unique_ptr<LayerKernel> make_flatten(const ops::Table& table, const LayerSpec& s,
                                          const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<Flatten>(table, s, i);
}

KernelMaker maker(const LayerSpec& spec, const LayerInfo& info, const KernelOptions& options) {
  switch (spec.kind) {
    case LayerKind::Conv: return conv_impl(spec, info, options.conv).make;
    case LayerKind::Dense: return make_dense;
    case LayerKind::ReLU: return make_relu;
    case LayerKind::Sigmoid: return make_sigmoid;
    case LayerKind::Tanh: return make_tanh;
    case LayerKind::MaxPool: return make_maxpool;
    case LayerKind::AvgPool:
    case LayerKind::GlobalAvgPool: return make_avgpool;
    case LayerKind::Flatten: return make_flatten;
    case LayerKind::Dropout: return make_dropout;
    case LayerKind::Normalize: return make_normalize;
    case LayerKind::BatchNorm: return make_batchnorm;
  }
  throw Error("fast: unknown layer kind in " + spec.text());
}

}  // namespace

std::unique_ptr<LayerKernel> make_kernel(const ops::Table& table, const LayerSpec& spec,
                                         const LayerInfo& info, const float* weights,
                                         const float* bias, const KernelOptions& options) {
  if (options.fuse_relu && spec.kind != LayerKind::Conv && spec.kind != LayerKind::Dense)
    throw Error("fast: a ReLU can only be fused into a conv or dense layer, not " + spec.text());
  return maker(spec, info, options)(table, spec, info, weights, bias, options.fuse_relu);
}

std::unique_ptr<LayerKernel> make_kernel(const LayerSpec& spec, const LayerInfo& info,
                                         const float* weights, const float* bias,
                                         const KernelOptions& options) {
  return make_kernel(ops::active(), spec, info, weights, bias, options);
}

std::size_t scratch_floats(const ops::Table& table, const LayerSpec& spec, const LayerInfo& info,
                           const KernelOptions& options) {
  switch (spec.kind) {
    case LayerKind::Conv: return conv_impl(spec, info, options.conv).scratch_floats(table, spec, info);
    case LayerKind::Dense: return dense_scratch_floats(table, spec);
    case LayerKind::Dropout: return std::size_t(info.out.size()) * kChunk;  // the mask
    default: return 0;
  }
}

std::size_t scratch_floats(const LayerSpec& spec, const LayerInfo& info,
                           const KernelOptions& options) {
  return scratch_floats(ops::active(), spec, info, options);
}

}  // namespace scratchcnn::fast
