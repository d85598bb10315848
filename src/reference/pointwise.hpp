#pragma once
// The element-wise activations of the origin design (fast twins: src/fast/layer.cpp, on the ops of
// src/fast/ops/pointwise.cpp).
#include <cmath>

#include "reference/module.hpp"

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

}  // namespace scratchcnn::reference
