// Batch norm's fast kernel (batchnorm.hpp has the scheme).
#include "fast/batchnorm.hpp"

#include <array>
#include <cmath>

#include "core/batchnorm.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::fast {
namespace {

using Lanes = std::array<float, kChunk>;

// The 16 lanes added in a fixed pairwise tree: ((l0 + l1) + (l2 + l3)) + ...
float lane_tree(Lanes a) {
  for (int width = 1; width < kChunk; width *= 2)
    for (int i = 0; i + width < kChunk; i += 2 * width) a[std::size_t(i)] += a[std::size_t(i + width)];
  return a[0];
}

// 1 for the lanes of valid samples, 0 past them.
Lanes lane_mask(int valid) {
  Lanes m{};
  for (int s = 0; s < kChunk; ++s) m[std::size_t(s)] = s < valid ? 1.0f : 0.0f;
  return m;
}

}  // namespace

BatchNormKernel::BatchNormKernel(const ops::Table& table, const LayerSpec& s, const LayerInfo& i,
                                 const float* scale, const float* shift)
    : IsaKernel(table, s, i), scale_(scale), shift_(shift), channels_(i.in.c),
      plane_(i.in.h * i.in.w) {}

void BatchNormKernel::forward(const float* in, float* out, float*) const {
  for (int c = 0; c < channels_; ++c) {
    const float mean = running_ ? running_[c] : 0.0f;
    const float inv = batchnorm::inv_std(running_ ? running_[channels_ + c] : 1.0f);
    const std::size_t base = std::size_t(c) * plane_ * kChunk;
    for (std::size_t i = base; i < base + std::size_t(plane_) * kChunk; ++i)
      out[i] = batchnorm::output(batchnorm::normalized(in[i], mean, inv), scale_[c], shift_[c]);
  }
}

void BatchNormKernel::backward(const float*, const float*, float*, float*, float*, float*,
                               float*) const {
  throw Error("fast: batch norm's backward runs over the whole batch (backward_train)");
}

void BatchNormKernel::channel_sums(const float* in, int valid, float* sums) const {
  const Lanes mask = lane_mask(valid);
  for (int c = 0; c < channels_; ++c) {
    Lanes acc{};
    const float* x = in + std::size_t(c) * plane_ * kChunk;
    for (int p = 0; p < plane_; ++p)
      for (int s = 0; s < kChunk; ++s) acc[std::size_t(s)] += x[p * kChunk + s] * mask[std::size_t(s)];
    sums[c] = lane_tree(acc);
  }
}

void BatchNormKernel::square_deviations(const float* in, int valid, const float* mean,
                                        float* sums) const {
  const Lanes mask = lane_mask(valid);
  for (int c = 0; c < channels_; ++c) {
    Lanes acc{};
    const float* x = in + std::size_t(c) * plane_ * kChunk;
    for (int p = 0; p < plane_; ++p)
      for (int s = 0; s < kChunk; ++s) {
        const float d = (x[p * kChunk + s] - mean[c]) * mask[std::size_t(s)];
        acc[std::size_t(s)] += d * d;
      }
    sums[c] = lane_tree(acc);
  }
}

void BatchNormKernel::forward_train(const float* in, float* out, const float* mean,
                                    const float* inv, int valid) const {
  const Lanes mask = lane_mask(valid);
  for (int c = 0; c < channels_; ++c) {
    const std::size_t base = std::size_t(c) * plane_ * kChunk;
    for (int p = 0; p < plane_; ++p)
      for (int s = 0; s < kChunk; ++s) {
        const std::size_t i = base + std::size_t(p) * kChunk + std::size_t(s);
        out[i] = batchnorm::output(batchnorm::normalized(in[i], mean[c], inv[c]), scale_[c],
                                   shift_[c]) * mask[std::size_t(s)];
      }
  }
}

void BatchNormKernel::gradient_sums(const float* in, const float* grad_out, const float* mean,
                                    const float* inv, int valid, float* dscale,
                                    float* dshift) const {
  const Lanes mask = lane_mask(valid);
  for (int c = 0; c < channels_; ++c) {
    Lanes gx{}, g{};
    const std::size_t base = std::size_t(c) * plane_ * kChunk;
    for (int p = 0; p < plane_; ++p)
      for (int s = 0; s < kChunk; ++s) {
        const std::size_t i = base + std::size_t(p) * kChunk + std::size_t(s);
        const float gm = grad_out[i] * mask[std::size_t(s)];
        g[std::size_t(s)] += gm;
        gx[std::size_t(s)] += gm * batchnorm::normalized(in[i], mean[c], inv[c]);
      }
    dscale[c] = lane_tree(gx);
    dshift[c] = lane_tree(g);
  }
}

void BatchNormKernel::backward_train(const float* in, const float* grad_out, float* grad_in,
                                     const float* mean, const float* inv, const float* sum_gx,
                                     const float* sum_g, float n_values, int valid) const {
  const Lanes mask = lane_mask(valid);
  for (int c = 0; c < channels_; ++c) {
    const std::size_t base = std::size_t(c) * plane_ * kChunk;
    for (int p = 0; p < plane_; ++p)
      for (int s = 0; s < kChunk; ++s) {
        const std::size_t i = base + std::size_t(p) * kChunk + std::size_t(s);
        const float xhat = batchnorm::normalized(in[i], mean[c], inv[c]);
        grad_in[i] = batchnorm::input_grad(grad_out[i], xhat, scale_[c], inv[c], sum_g[c],
                                           sum_gx[c], n_values) * mask[std::size_t(s)];
      }
  }
}

std::unique_ptr<LayerKernel> make_batchnorm(const ops::Table& table, const LayerSpec& s,
                                            const LayerInfo& i, const float* w, const float* b,
                                            bool) {
  return std::make_unique<BatchNormKernel>(table, s, i, w, b);
}

}  // namespace scratchcnn::fast
