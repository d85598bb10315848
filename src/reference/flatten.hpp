#pragma once
// Flatten of the origin design: the bridge from the convolution part to the dense part.
#include "reference/module.hpp"

namespace scratchcnn::reference {

// channels x H x W -> a vector, channel-major; backward reshapes back.
template <class T>
class Flatten : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override {
    in_shape_ = x.shape;
    Tensor<T> out = x;
    out.shape = Shape{static_cast<int>(x.shape.size()), 1, 1, true};
    return out;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad = g;
    grad.shape = in_shape_;
    return grad;
  }

 private:
  Shape in_shape_;
};

}  // namespace scratchcnn::reference
