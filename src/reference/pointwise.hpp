#pragma once
// The element-wise activations of the origin design (fast twins: src/fast/layer.cpp, on the ops of
// src/fast/ops/pointwise.cpp).
#include <cmath>

#include "core/dropout.hpp"
#include "reference/module.hpp"
#include "scratchcnn/model_spec.hpp"

namespace scratchcnn::reference {

// out = max(0, x); backward passes the gradient where the output is > 0 (derivative 0 at 0).
template <class T>
class ReLU : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override {
    out_ = x;
    for (T& v : out_.data) v = v > T(0) ? v : T(0);
    return out_;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad = g;
    for (std::size_t i = 0; i < grad.data.size(); ++i)
      if (!(out_.data[i] > T(0))) grad.data[i] = T(0);
    return grad;
  }

 private:
  Tensor<T> out_;
};

// out = 1 / (1 + e^-x); backward multiplies by out * (1 - out).
template <class T>
class Sigmoid : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override {
    out_ = x;
    for (T& v : out_.data) v = T(1) / (T(1) + std::exp(-v));
    return out_;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad = g;
    for (std::size_t i = 0; i < grad.data.size(); ++i)
      grad.data[i] = g.data[i] * (out_.data[i] * (T(1) - out_.data[i]));
    return grad;
  }

 private:
  Tensor<T> out_;
};

// out = tanh(x); backward multiplies by 1 - out^2.
template <class T>
class Tanh : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override {
    out_ = x;
    for (T& v : out_.data) v = std::tanh(v);
    return out_;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad = g;
    for (std::size_t i = 0; i < grad.data.size(); ++i)
      grad.data[i] = g.data[i] * (T(1) - out_.data[i] * out_.data[i]);
    return grad;
  }

 private:
  Tensor<T> out_;
};

// Inverted dropout. In training (a key was set for the sample) each element is kept or zeroed by
// dropout_keep(key, layer, sample, element) and a kept one is multiplied by 1 / (1 - rate);
// backward multiplies the gradient by the same factor (or 0). Without a key (evaluation,
// prediction) it is the identity.
template <class T>
class Dropout : public Module<T> {
 public:
  explicit Dropout(float rate) : rate_(rate) {}
  void set_sample(const DropoutKey* key, std::uint64_t layer, std::uint64_t sample) override {
    key_ = key;
    layer_ = layer;
    sample_ = sample;
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    factor_.assign(x.data.size(), T(1));
    if (!key_) return x;
    const std::uint32_t threshold = dropout_threshold(rate_);
    const T scale = dropout_scale<T>(rate_);
    const std::uint64_t hash = dropout_sample_hash(*key_, layer_, sample_);
    Tensor<T> out = x;
    for (std::size_t i = 0; i < out.data.size(); ++i) {
      factor_[i] = dropout_keep_hashed(hash, i, threshold) ? scale : T(0);
      out.data[i] = x.data[i] * factor_[i];
    }
    return out;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad = g;
    for (std::size_t i = 0; i < grad.data.size(); ++i) grad.data[i] = g.data[i] * factor_[i];
    return grad;
  }

 private:
  float rate_;
  const DropoutKey* key_ = nullptr;
  std::uint64_t layer_ = 0, sample_ = 0;
  std::vector<T> factor_;  // per element of the last forward: 0, the scale, or 1 (no key)
};

// (x - mean[c]) / std[c] for the elements of channel c (a flat input: each feature its own
// channel); backward divides the gradient by std[c]. Constants, not parameters.
template <class T>
class Normalize : public Module<T> {
 public:
  Normalize(const LayerSpec& l, const Shape& in) : spec_(l), plane_(std::size_t(in.h) * in.w) {}
  Tensor<T> forward(const Tensor<T>& x) override {
    Tensor<T> out = x;
    for (std::size_t i = 0; i < out.data.size(); ++i) {
      const int c = int(i / plane_);
      out.data[i] = (x.data[i] - T(spec_.mean_of(c))) / T(spec_.stdev_of(c));
    }
    return out;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad = g;
    for (std::size_t i = 0; i < grad.data.size(); ++i)
      grad.data[i] = g.data[i] / T(spec_.stdev_of(int(i / plane_)));
    return grad;
  }

 private:
  LayerSpec spec_;
  std::size_t plane_;
};

}  // namespace scratchcnn::reference
