// fast::Layer: one layer kernel over a whole batch.
#include "fast/layer.hpp"

#include <algorithm>
#include <string>

#include "core/batchnorm.hpp"
#include "fast/batchnorm.hpp"
#include "fast/reduce.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::fast {

Layer::Layer(const LayerSpec& spec, const LayerInfo& info, const LayerParams& params, ConvAlgo conv)
    : params_(params) {
  if (spec.has_params()) {
    const auto nw = static_cast<std::size_t>(spec.weight_count());
    const auto nb = static_cast<std::size_t>(spec.bias_count());
    if (params_.weights.size() != nw || params_.bias.size() != nb)
      throw Error("fast::Layer " + spec.text() + ": expected " + std::to_string(nw) +
                  " weights and " + std::to_string(nb) + " biases, got " +
                  std::to_string(params_.weights.size()) + " and " +
                  std::to_string(params_.bias.size()));
  }
  KernelOptions o;
  o.conv = conv;
  kernel_ = make_kernel(spec, info, params_.weights.empty() ? nullptr : params_.weights.data(),
                        params_.bias.empty() ? nullptr : params_.bias.data(), o);
  grad_sum_.weights.assign(params_.weights.size(), 0.0f);
  grad_sum_.bias.assign(params_.bias.size(), 0.0f);
  partial_stride_ = align_floats(params_.weights.size()) + align_floats(params_.bias.size());
  scratch_stride_ = align_floats(kernel_->scratch_floats());
}

Layer::~Layer() = default;

const float* Layer::forward_chunked(const float* in, int n) {
  n_ = n;
  in_ = in;
  if (kernel_->is_view()) return in;
  const int nc = chunk_count(n);
  const std::size_t fi = kernel_->in_floats(), fo = kernel_->out_floats();
  out_buf_.reserve(std::size_t(nc) * fo);
  scratch_.reserve(std::size_t(nc) * scratch_stride_);
  float* out = out_buf_.data();
  float* scratch = scratch_.data();
  const LayerKernel& k = *kernel_;
  if (k.spec().kind == LayerKind::BatchNorm) {
    forward_batchnorm(in, out);
    return out;
  }
  const bool dropout = k.spec().kind == LayerKind::Dropout;
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::min(max_threads(), nc))
  for (int q = 0; q < nc; ++q) {
    float* s = scratch + q * scratch_stride_;
    if (dropout)
      fill_dropout_mask(k.spec(), k.info(), key_, layer_, std::int64_t(q) * kChunk,
                        std::min(kChunk, n - q * kChunk), s);
    k.forward(in + q * fi, out + q * fo, s);
  }
  return out;
}

const float* Layer::backward_chunked(const float* grad_out, bool with_grad_in,
                                     bool with_param_grads) {
  if (kernel_->is_view()) return grad_out;
  const int nc = chunk_count(n_);
  const std::size_t fi = kernel_->in_floats(), fo = kernel_->out_floats();
  if (with_grad_in) grad_in_buf_.reserve(std::size_t(nc) * fi);
  partial_.reserve(std::size_t(nc) * partial_stride_);
  float* gin = with_grad_in ? grad_in_buf_.data() : nullptr;
  float* partial = partial_.data();
  float* scratch = scratch_.data();
  const float* in = in_;
  const float* out = out_buf_.data();
  const bool params = with_param_grads && !params_.weights.empty();
  const std::size_t boff = align_floats(params_.weights.size());
  const std::size_t ps = partial_stride_;
  const LayerKernel& k = *kernel_;
  if (k.spec().kind == LayerKind::BatchNorm) {
    backward_batchnorm(grad_out, gin, params);
    return gin;
  }
  // The kernel writes grad_out only with a fused ReLU, which a Layer never has.
  float* g = const_cast<float*>(grad_out);
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::min(max_threads(), nc))
  for (int q = 0; q < nc; ++q)
    k.backward(in + q * fi, out + q * fo, g + q * fo, gin ? gin + q * fi : nullptr,
               scratch + q * scratch_stride_, params ? partial + q * ps : nullptr,
               params ? partial + q * ps + boff : nullptr);
  if (params) {
    reduce_chunks(partial, ps, nc, grad_sum_.weights.size(), grad_sum_.weights.data());
    reduce_chunks(partial + boff, ps, nc, grad_sum_.bias.size(), grad_sum_.bias.data());
  }
  return gin;
}

// Batch norm in training (fast/batchnorm.hpp), with the phases and chunk tree a network uses.
void Layer::forward_batchnorm(const float* in, float* out) {
  const auto& k = static_cast<const BatchNormKernel&>(*kernel_);
  const int n = n_, nc = chunk_count(n), c = k.channels();
  const std::size_t fi = k.in_floats();
  const float values = float(n) * float(k.plane());
  stats_.assign(5 * std::size_t(c), 0.0f);
  float* mean = stats_.data();
  float* var = mean + c;
  float* inv = var + c;
  std::vector<float> part(std::size_t(nc) * 2 * std::size_t(c));
  const auto valid = [n](int q) { return std::min(kChunk, n - q * kChunk); };
  for (int q = 0; q < nc; ++q) k.channel_sums(in + q * fi, valid(q), part.data() + std::size_t(q) * c);
  reduce_chunks(part.data(), std::size_t(c), nc, std::size_t(c), mean);
  for (int i = 0; i < c; ++i) mean[i] = mean[i] / values;
  for (int q = 0; q < nc; ++q)
    k.square_deviations(in + q * fi, valid(q), mean, part.data() + std::size_t(q) * c);
  reduce_chunks(part.data(), std::size_t(c), nc, std::size_t(c), var);
  for (int i = 0; i < c; ++i) {
    var[i] = var[i] / values;
    inv[i] = batchnorm::inv_std(var[i]);
  }
  for (int q = 0; q < nc; ++q) k.forward_train(in + q * fi, out + q * fi, mean, inv, valid(q));
}

void Layer::backward_batchnorm(const float* grad_out, float* gin, bool params) {
  const auto& k = static_cast<const BatchNormKernel&>(*kernel_);
  const int n = n_, nc = chunk_count(n), c = k.channels();
  const std::size_t fi = k.in_floats();
  const float values = float(n) * float(k.plane());
  const float* mean = stats_.data();
  const float* inv = mean + 2 * c;
  float* sums = stats_.data() + 3 * c;  // sum of g x xhat, then sum of g
  std::vector<float> part(std::size_t(nc) * 2 * std::size_t(c));
  const auto valid = [n](int q) { return std::min(kChunk, n - q * kChunk); };
  for (int q = 0; q < nc; ++q) {
    float* p = part.data() + std::size_t(q) * 2 * c;
    k.gradient_sums(in_ + q * fi, grad_out + q * fi, mean, inv, valid(q), p, p + c);
  }
  reduce_chunks(part.data(), 2 * std::size_t(c), nc, 2 * std::size_t(c), sums);
  if (params) {
    std::copy(sums, sums + c, grad_sum_.weights.begin());
    std::copy(sums + c, sums + 2 * c, grad_sum_.bias.begin());
  }
  if (gin)
    for (int q = 0; q < nc; ++q)
      k.backward_train(in_ + q * fi, grad_out + q * fi, gin + q * fi, mean, inv, sums, sums + c,
                       values, valid(q));
}

std::vector<float> Layer::forward(const float* in, int n) {
  const std::int64_t fi = kernel_->info().in.size(), fo = kernel_->info().out.size();
  in_buf_.reserve(chunked_size(n, fi));
  pack_batch(in, n, fi, in_buf_.data());
  const float* out = forward_chunked(in_buf_.data(), n);
  std::vector<float> r(std::size_t(n) * fo);
  unpack_batch(out, n, fo, r.data());
  return r;
}

std::vector<float> Layer::backward(const float* grad_out) {
  const std::int64_t fi = kernel_->info().in.size(), fo = kernel_->info().out.size();
  grad_out_buf_.reserve(chunked_size(n_, fo));
  pack_batch(grad_out, n_, fo, grad_out_buf_.data());
  const float* gin = backward_chunked(grad_out_buf_.data());
  std::vector<float> r(std::size_t(n_) * fi);
  unpack_batch(gin, n_, fi, r.data());
  return r;
}

LayerParams Layer::mean_gradients() const {
  LayerParams m = grad_sum_;
  for (float& v : m.weights) v = v / float(n_);
  for (float& v : m.bias) v = v / float(n_);
  return m;
}

}  // namespace scratchcnn::fast
