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

}  // namespace scratchcnn::reference
