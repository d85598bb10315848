#pragma once
// Max pooling of the origin design (fast twin: src/fast/layer.cpp, MaxPool, on the ops of
// src/fast/ops/pool.cpp).
#include <cstddef>
#include <vector>

#include "reference/module.hpp"

namespace scratchcnn::reference {

// Window k, stride k. Forward remembers where each window's maximum is (the first one in
// row-major order on ties); backward routes each gradient value there, zeros elsewhere.
template <class T>
class MaxPool : public Module<T> {
 public:
  explicit MaxPool(int k) : k_(k) {}
  Tensor<T> forward(const Tensor<T>& x) override {
    in_shape_ = x.shape;
    Tensor<T> out(Shape{x.shape.c, x.shape.h / k_, x.shape.w / k_, false});
    argmax_.assign(out.data.size(), 0);
    for (int c = 0; c < out.shape.c; ++c)
      for (int i = 0; i < out.shape.h; ++i)
        for (int j = 0; j < out.shape.w; ++j) {
          int best_y = i * k_, best_x = j * k_;
          for (int y = i * k_; y < (i + 1) * k_; ++y)
            for (int xx = j * k_; xx < (j + 1) * k_; ++xx)
              if (x.at(c, y, xx) > x.at(c, best_y, best_x)) {
                best_y = y;
                best_x = xx;
              }
          out.at(c, i, j) = x.at(c, best_y, best_x);
          argmax_[(std::size_t(c) * out.shape.h + i) * out.shape.w + j] =
              (std::size_t(c) * in_shape_.h + best_y) * in_shape_.w + best_x;
        }
    return out;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad(in_shape_);
    for (std::size_t o = 0; o < g.data.size(); ++o) grad.data[argmax_[o]] = g.data[o];
    return grad;
  }

 private:
  int k_;
  Shape in_shape_;
  std::vector<std::size_t> argmax_;
};

// Average over a kh x kw window moved by (sh, sw) (avgpool(K[,stride=S]); gap: the whole plane).
// Forward: each window's sum in row-major order, divided by kh * kw. Backward: every input of a
// window receives g / (kh * kw), outputs taken in row-major order, so overlapping windows add up.
template <class T>
class AvgPool : public Module<T> {
 public:
  AvgPool(int kh, int kw, int sh, int sw) : kh_(kh), kw_(kw), sh_(sh), sw_(sw) {}
  Tensor<T> forward(const Tensor<T>& x) override {
    in_shape_ = x.shape;
    Tensor<T> out(Shape{x.shape.c, (x.shape.h - kh_) / sh_ + 1, (x.shape.w - kw_) / sw_ + 1, false});
    for (int c = 0; c < out.shape.c; ++c)
      for (int i = 0; i < out.shape.h; ++i)
        for (int j = 0; j < out.shape.w; ++j) {
          T sum = T(0);
          for (int y = i * sh_; y < i * sh_ + kh_; ++y)
            for (int xx = j * sw_; xx < j * sw_ + kw_; ++xx) sum += x.at(c, y, xx);
          out.at(c, i, j) = sum / T(kh_ * kw_);
        }
    return out;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad(in_shape_);
    for (int c = 0; c < g.shape.c; ++c)
      for (int i = 0; i < g.shape.h; ++i)
        for (int j = 0; j < g.shape.w; ++j) {
          const T q = g.at(c, i, j) / T(kh_ * kw_);
          for (int y = i * sh_; y < i * sh_ + kh_; ++y)
            for (int xx = j * sw_; xx < j * sw_ + kw_; ++xx) grad.at(c, y, xx) += q;
        }
    return grad;
  }

 private:
  int kh_, kw_, sh_, sw_;
  Shape in_shape_;
};

}  // namespace scratchcnn::reference
