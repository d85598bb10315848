#pragma once
// The convolution layer of the origin design: a list of nodes, one per output channel (fast
// twins: src/fast/layer.cpp, DirectConv and Im2colConv, on the ops of src/fast/ops/correlate.cpp,
// conv_weight_grad.cpp and im2col.cpp).
#include <vector>

#include "reference/module.hpp"

namespace scratchcnn::reference {

// One output channel: n_in kernels of k x k and a bias.
template <class T>
struct ConvNode {
  int k = 1, pad = 0, stride = 1;
  std::vector<std::vector<Param<T>>> kernels;  // n_in kernels, each k * k Params, row-major
  Param<T> bias;
  std::vector<Matrix<T>> padded_input;  // remembered by forward

  // The values of input channel c's kernel.
  Matrix<T> kernel(std::size_t c) const {
    Matrix<T> m(k, k);
    for (std::size_t i = 0; i < m.v.size(); ++i) m.v[i] = kernels[c][i].value;
    return m;
  }
  // Sum over input channels of the valid cross-correlation (window moved by stride) of the
  // padded channel with its kernel, then + bias.
  Matrix<T> forward(const std::vector<Matrix<T>>& x) {
    padded_input.clear();
    for (const auto& m : x) padded_input.push_back(zero_pad(m, pad, pad));
    Matrix<T> out = cross_correlate(padded_input[0], kernel(0), stride);
    for (std::size_t c = 1; c < kernels.size(); ++c) {
      const Matrix<T> part = cross_correlate(padded_input[c], kernel(c), stride);
      for (std::size_t i = 0; i < out.v.size(); ++i) out.v[i] += part.v[i];
    }
    for (T& v : out.v) v += bias.value;
    return out;
  }
  // bias grad = sum of G; kernel grad c = padded input c (x) G; input grad c = crop(full(G, k_c)).
  // With stride > 1, G first becomes the gradient of the stride-1 output (dilate): the strided
  // output is every stride-th row and column of it, the rest gets 0.
  std::vector<Matrix<T>> backward(const Matrix<T>& g_out) {
    T gb = 0;
    for (T v : g_out.v) gb += v;
    bias.grads.push_back(gb);
    const Matrix<T>& p0 = padded_input[0];
    const Matrix<T> dilated =
        stride == 1 ? Matrix<T>() : dilate(g_out, stride, p0.rows - k + 1, p0.cols - k + 1);
    const Matrix<T>& g = stride == 1 ? g_out : dilated;
    std::vector<Matrix<T>> back;
    for (std::size_t c = 0; c < kernels.size(); ++c) {
      const Matrix<T> kg = cross_correlate(padded_input[c], g);
      for (std::size_t i = 0; i < kg.v.size(); ++i) kernels[c][i].grads.push_back(kg.v[i]);
      back.push_back(crop(full_convolve(g, kernel(c)), pad));
    }
    return back;
  }
};

// Convolution layer = a list of n_out nodes; its input gradient is the sum of theirs.
template <class T>
class Conv : public ParamModule<T> {
  using typename ParamModule<T>::Part;
  using typename ParamModule<T>::Visitor;

 public:
  Conv(const LayerSpec& l, const LayerParams& p) : nodes_(std::size_t(l.out)) {
    for (auto& n : nodes_) {
      n.k = l.k;
      n.pad = l.pad;
      n.stride = l.conv_stride();
      n.kernels.assign(std::size_t(l.in), std::vector<Param<T>>(std::size_t(l.k) * l.k));
    }
    this->load(p);
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    const std::vector<Matrix<T>> maps = to_maps(x);
    std::vector<Matrix<T>> out;
    for (auto& n : nodes_) out.push_back(n.forward(maps));
    in_shape_ = x.shape;
    return from_maps(out);
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    const std::vector<Matrix<T>> gmaps = to_maps(g);
    std::vector<Matrix<T>> grad_in(in_shape_.c, Matrix<T>(in_shape_.h, in_shape_.w));
    for (std::size_t o = 0; o < nodes_.size(); ++o) {
      const std::vector<Matrix<T>> back = nodes_[o].backward(gmaps[o]);
      for (int c = 0; c < in_shape_.c; ++c)
        for (std::size_t i = 0; i < back[c].v.size(); ++i) grad_in[c].v[i] += back[c].v[i];
    }
    return from_maps(grad_in);
  }

 protected:
  void visit(Part part, const Visitor& f) override {
    for (auto& n : nodes_) {
      if (part == Part::Bias) f(n.bias);
      else
        for (auto& kernel : n.kernels)
          for (auto& w : kernel) f(w);
    }
  }

 private:
  std::vector<ConvNode<T>> nodes_;
  Shape in_shape_;
};

}  // namespace scratchcnn::reference
