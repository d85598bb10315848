// ReLU, sigmoid, tanh and dropout (oracle: reference/pointwise.hpp).
#include <algorithm>
#include <cstdint>
#include <memory>

#include "core/dropout.hpp"
#include "fast/kernel.hpp"
#include "fast/ops/ops.hpp"

namespace scratchcnn::fast {
namespace {

class ReLU final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  void forward(const float* in, float* out, float*) const override {
    k_.relu_forward(in, out, std::int64_t(out_floats()));
  }
  void backward(const float*, const float* out, float* g, float* gin, float*, float*,
                float*) const override {
    if (gin) k_.relu_backward(out, g, gin, std::int64_t(out_floats()));
  }
};

class Sigmoid final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  void forward(const float* in, float* out, float*) const override {
    k_.sigmoid_forward(in, out, std::int64_t(out_floats()));
  }
  void backward(const float*, const float* out, float* g, float* gin, float*, float*,
                float*) const override {
    if (gin) k_.sigmoid_backward(out, g, gin, std::int64_t(out_floats()));
  }
};

class Tanh final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  void forward(const float* in, float* out, float*) const override {
    k_.tanh_forward(in, out, std::int64_t(out_floats()));
  }
  void backward(const float*, const float* out, float* g, float* gin, float*, float*,
                float*) const override {
    if (gin) k_.tanh_backward(out, g, gin, std::int64_t(out_floats()));
  }
};

// out = in * mask and grad_in = grad_out * mask, the mask in the scratch, written by the caller
// before forward (fill_dropout_mask). Element by element products: the same bits on every level.
class Dropout final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  std::size_t scratch_floats() const override { return out_floats(); }
  void forward(const float* in, float* out, float* mask) const override {
    const std::size_t n = out_floats();
    for (std::size_t i = 0; i < n; ++i) out[i] = in[i] * mask[i];
  }
  void backward(const float*, const float*, float* g, float* gin, float* mask, float*,
                float*) const override {
    if (!gin) return;
    const std::size_t n = out_floats();
    for (std::size_t i = 0; i < n; ++i) gin[i] = g[i] * mask[i];
  }
};

}  // namespace

void fill_dropout_mask(const LayerSpec& spec, const LayerInfo& info, const DropoutKey* key,
                       std::uint64_t layer, std::int64_t first_sample, int valid, float* mask) {
  const std::int64_t features = info.out.size();
  if (!key) {
    std::fill(mask, mask + features * kChunk, 1.0f);
    return;
  }
  const std::uint32_t threshold = dropout_threshold(spec.rate);
  const float scale = dropout_scale<float>(spec.rate);
  for (std::int64_t f = 0; f < features; ++f)
    for (int s = 0; s < kChunk; ++s)
      mask[f * kChunk + s] =
          s < valid && dropout_keep(*key, layer, std::uint64_t(first_sample + s), std::uint64_t(f), threshold)
              ? scale
              : 0.0f;
}

std::unique_ptr<LayerKernel> make_dropout(const ops::Table& table, const LayerSpec& s,
                                          const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<Dropout>(table, s, i);
}

std::unique_ptr<LayerKernel> make_relu(const ops::Table& table, const LayerSpec& s,
                                       const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<ReLU>(table, s, i);
}

std::unique_ptr<LayerKernel> make_sigmoid(const ops::Table& table, const LayerSpec& s,
                                          const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<Sigmoid>(table, s, i);
}

std::unique_ptr<LayerKernel> make_tanh(const ops::Table& table, const LayerSpec& s,
                                       const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<Tanh>(table, s, i);
}

}  // namespace scratchcnn::fast
