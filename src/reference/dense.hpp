#pragma once
// The dense layer of the origin design: a list of neurons (fast twin: src/fast/layer.cpp, Dense,
// on the ops of src/fast/ops/correlate.cpp and dense.cpp).
#include <vector>

#include "reference/module.hpp"

namespace scratchcnn::reference {

// One neuron: n_in weights and a bias.
template <class T>
struct LinearNode {
  std::vector<Param<T>> weights;
  Param<T> bias;
  std::vector<T> input;  // remembered by forward

  // output = dot(weights, input) + bias
  T forward(const std::vector<T>& x) {
    input = x;
    T s = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) s += weights[i].value * x[i];
    return s + bias.value;
  }
  // bias grad = g; weight grads = g * input; returns g * weights.
  std::vector<T> backward(T g) {
    bias.grads.push_back(g);
    std::vector<T> back(weights.size());
    for (std::size_t i = 0; i < input.size(); ++i) weights[i].grads.push_back(g * input[i]);
    for (std::size_t i = 0; i < weights.size(); ++i) back[i] = g * weights[i].value;
    return back;
  }
};

// Dense layer = a list of n_out neurons; its input gradient is the sum of theirs.
template <class T>
class Linear : public ParamModule<T> {
  using typename ParamModule<T>::Part;
  using typename ParamModule<T>::Visitor;

 public:
  Linear(int n_in, int n_out, const LayerParams& p) : n_in_(n_in), nodes_(std::size_t(n_out)) {
    for (auto& n : nodes_) n.weights.resize(std::size_t(n_in));
    this->load(p);
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    Tensor<T> out(Shape{static_cast<int>(nodes_.size()), 1, 1, true});
    for (std::size_t o = 0; o < nodes_.size(); ++o) out.data[o] = nodes_[o].forward(x.data);
    return out;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> grad_in(Shape{n_in_, 1, 1, true});
    for (std::size_t o = 0; o < nodes_.size(); ++o) {
      const std::vector<T> back = nodes_[o].backward(g.data[o]);
      for (int i = 0; i < n_in_; ++i) grad_in.data[i] += back[i];
    }
    return grad_in;
  }

 protected:
  void visit(Part part, const Visitor& f) override {
    for (auto& n : nodes_) {
      if (part == Part::Bias) f(n.bias);
      else
        for (auto& w : n.weights) f(w);
    }
  }

 private:
  int n_in_;
  std::vector<LinearNode<T>> nodes_;
};

}  // namespace scratchcnn::reference
