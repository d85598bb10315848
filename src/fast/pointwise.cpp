// ReLU, sigmoid, tanh and dropout (oracle: reference/pointwise.hpp).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

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

// (x - mean[c]) / std[c] per element of the chunk tensor (feature f of channel f / (H * W)),
// backward g / std[c]: two IEEE operations in the reference's order, so the same bits.
class Normalize final : public IsaKernel {
 public:
  Normalize(const ops::Table& table, const LayerSpec& s, const LayerInfo& i)
      : IsaKernel(table, s, i) {
    const std::int64_t plane = std::int64_t(i.in.h) * i.in.w, features = i.in.size();
    mean_.resize(std::size_t(features));
    stdev_.resize(std::size_t(features));
    for (std::int64_t f = 0; f < features; ++f) {
      mean_[std::size_t(f)] = s.mean_of(int(f / plane));
      stdev_[std::size_t(f)] = s.stdev_of(int(f / plane));
    }
  }
  void forward(const float* in, float* out, float*) const override {
    for (std::size_t f = 0; f < mean_.size(); ++f)
      for (int s = 0; s < kChunk; ++s) {
        const std::size_t i = f * kChunk + std::size_t(s);
        out[i] = (in[i] - mean_[f]) / stdev_[f];
      }
  }
  void backward(const float*, const float*, float* g, float* gin, float*, float*,
                float*) const override {
    if (!gin) return;
    for (std::size_t f = 0; f < stdev_.size(); ++f)
      for (int s = 0; s < kChunk; ++s) {
        const std::size_t i = f * kChunk + std::size_t(s);
        gin[i] = g[i] / stdev_[f];
      }
  }

 private:
  std::vector<float> mean_, stdev_;  // per feature
};

}  // namespace

std::unique_ptr<LayerKernel> make_normalize(const ops::Table& table, const LayerSpec& s,
                                            const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<Normalize>(table, s, i);
}

void fill_dropout_mask(const LayerSpec& spec, const LayerInfo& info, const DropoutKey* key,
                       std::uint64_t layer, std::int64_t first_sample, int valid, float* mask) {
  const std::int64_t features = info.out.size();
  if (!key) {
    std::fill(mask, mask + features * kChunk, 1.0f);
    return;
  }
  const std::uint32_t threshold = dropout_threshold(spec.rate);
  const float scale = dropout_scale<float>(spec.rate);
  for (int s = 0; s < kChunk; ++s) {
    if (s >= valid) {
      for (std::int64_t f = 0; f < features; ++f) mask[f * kChunk + s] = 0.0f;
      continue;
    }
    const std::uint64_t hash = dropout_sample_hash(*key, layer, std::uint64_t(first_sample + s));
    for (std::int64_t f = 0; f < features; ++f)
      mask[f * kChunk + s] = dropout_keep_hashed(hash, std::uint64_t(f), threshold) ? scale : 0.0f;
  }
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
