#pragma once
// The reference (oracle) path: seed-spec.md written down in C++, line for line.
//
// Samples go through the model one at a time. Dense and convolution layers are lists of Node
// objects that own their weights and keep one gradient entry per sample; update() applies the
// mean of those lists. Plain scalar loops, no SIMD, no threads: clarity beats speed here.
// T is float (to compare with the fast path) or double (a tighter oracle for tests).

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::reference {

// One sample's value between modules: c x h x w maps, or a flat vector (shape.flat), row-major.
template <class T>
struct Tensor {
  Shape shape;
  std::vector<T> data;

  Tensor() = default;
  explicit Tensor(Shape s) : shape(s), data(static_cast<std::size_t>(s.size()), T(0)) {}
  T& at(int c, int y, int x) { return data[(std::size_t(c) * shape.h + y) * shape.w + x]; }
  const T& at(int c, int y, int x) const {
    return data[(std::size_t(c) * shape.h + y) * shape.w + x];
  }
};

// A rows x cols matrix, row-major: one channel of a convolution value, or one kernel.
template <class T>
struct Matrix {
  int rows = 0, cols = 0;
  std::vector<T> v;

  Matrix() = default;
  Matrix(int r, int c) : rows(r), cols(c), v(std::size_t(r) * c, T(0)) {}
  T& operator()(int r, int c) { return v[std::size_t(r) * cols + c]; }
  const T& operator()(int r, int c) const { return v[std::size_t(r) * cols + c]; }
};

// m with pr zero rows above and below and pc zero columns left and right.
template <class T>
Matrix<T> zero_pad(const Matrix<T>& m, int pr, int pc) {
  Matrix<T> out(m.rows + 2 * pr, m.cols + 2 * pc);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) out(r + pr, c + pc) = m(r, c);
  return out;
}

// Valid cross-correlation: out(i, j) = sum_{y, x} a(i + y, j + x) * k(y, x), summed in row-major
// order of k. out is (a.rows - k.rows + 1) x (a.cols - k.cols + 1).
template <class T>
Matrix<T> cross_correlate(const Matrix<T>& a, const Matrix<T>& k) {
  Matrix<T> out(a.rows - k.rows + 1, a.cols - k.cols + 1);
  for (int i = 0; i < out.rows; ++i)
    for (int j = 0; j < out.cols; ++j) {
      T s = 0;
      for (int y = 0; y < k.rows; ++y)
        for (int x = 0; x < k.cols; ++x) s += a(i + y, j + x) * k(y, x);
      out(i, j) = s;
    }
  return out;
}

// m rotated by 180 degrees.
template <class T>
Matrix<T> flip(const Matrix<T>& m) {
  Matrix<T> out(m.rows, m.cols);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) out(r, c) = m(m.rows - 1 - r, m.cols - 1 - c);
  return out;
}

// Full convolution of g with k, as the seed write-up computes it: flip g, zero-pad k by
// (rows(g) - 1, cols(g) - 1), cross-correlate. out is (g.rows + k.rows - 1) x (g.cols + k.cols - 1).
template <class T>
Matrix<T> full_convolve(const Matrix<T>& g, const Matrix<T>& k) {
  return cross_correlate(zero_pad(k, g.rows - 1, g.cols - 1), flip(g));
}

// m without p rows/columns on every side.
template <class T>
Matrix<T> crop(const Matrix<T>& m, int p) {
  Matrix<T> out(m.rows - 2 * p, m.cols - 2 * p);
  for (int r = 0; r < out.rows; ++r)
    for (int c = 0; c < out.cols; ++c) out(r, c) = m(r + p, c + p);
  return out;
}

template <class T>
std::vector<Matrix<T>> to_maps(const Tensor<T>& t) {
  std::vector<Matrix<T>> maps(t.shape.c, Matrix<T>(t.shape.h, t.shape.w));
  for (int c = 0; c < t.shape.c; ++c)
    for (int y = 0; y < t.shape.h; ++y)
      for (int x = 0; x < t.shape.w; ++x) maps[c](y, x) = t.at(c, y, x);
  return maps;
}

template <class T>
Tensor<T> from_maps(const std::vector<Matrix<T>>& maps) {
  Tensor<T> t(Shape{static_cast<int>(maps.size()), maps[0].rows, maps[0].cols, false});
  for (int c = 0; c < t.shape.c; ++c)
    for (int y = 0; y < t.shape.h; ++y)
      for (int x = 0; x < t.shape.w; ++x) t.at(c, y, x) = maps[c](y, x);
  return t;
}

// The mean of a list of per-sample values: their sum in sample order, divided by the count.
template <class T>
T mean_of(const std::vector<T>& list) {
  T s = 0;
  for (T v : list) s += v;
  return s / static_cast<T>(list.size());
}

// One SGD update's settings in the scalar type of the path (network.hpp has the rule).
template <class T>
struct SgdStep {
  T lr = 0;
  T momentum = 0;
  T weight_decay = 0;
};

// The Sgd rule of network.hpp for one parameter w with velocity v and mean gradient m.
template <class T>
void sgd_update(T& w, T& v, T m, const SgdStep<T>& s) {
  T g = m;
  if (s.weight_decay != T(0)) g = g + s.weight_decay * w;
  if (s.momentum != T(0)) {
    v = s.momentum * v + g;
    w = w - s.lr * v;
  } else {
    w = w - s.lr * g;
  }
}

// The module contract of seed-spec.md.
template <class T>
class Module {
 public:
  virtual ~Module() = default;
  // One sample.
  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  // The gradient wrt this module's output for the sample of the last forward; returns the
  // gradient wrt its input and, for modules with parameters, appends to the gradient lists.
  virtual Tensor<T> backward(const Tensor<T>& grad_out) = 0;
  // w <- w - lr * mean(gradient list) (with momentum and weight decay: sgd_update), then the
  // lists are cleared. No-op without parameters.
  virtual void update(const SgdStep<T>& /*step*/) {}
  void update(T lr) { update(SgdStep<T>{lr, T(0), T(0)}); }
  // The mean of the gradient lists in the canonical layout, without clearing them.
  // Returns false for modules without parameters.
  virtual bool mean_gradients(std::vector<T>& /*weights*/, std::vector<T>& /*bias*/) const {
    return false;
  }
  // The current parameters in the canonical layout (empty for modules without parameters).
  virtual LayerParams parameters() const { return {}; }
  // Drops the gradient lists without applying them.
  virtual void discard_gradients() {}
  // The velocities in the canonical layout (empty for modules without parameters).
  virtual LayerParams velocity() const { return {}; }
  // Sizes already checked by the caller.
  virtual void set_velocity(const LayerParams& /*v*/) {}
  // Pointers to the parameters in the canonical layout, for finite-difference checks.
  virtual std::vector<T*> parameter_pointers() { return {}; }
};

// One neuron of a dense layer.
template <class T>
class LinearNode {
 public:
  std::vector<T> weights;
  T bias = 0;
  std::vector<T> weight_velocity;               // one per weight, for momentum
  T bias_velocity = 0;
  std::vector<T> input;                         // remembered by forward
  std::vector<std::vector<T>> weight_grads;     // one entry per sample
  std::vector<T> bias_grads;                    // one entry per sample

  // output = dot(weights, input) + bias
  T forward(const std::vector<T>& x) {
    input = x;
    T s = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) s += weights[i] * x[i];
    return s + bias;
  }
  // bias grad = g; weight grads = g * input; returns g * weights.
  std::vector<T> backward(T g) {
    bias_grads.push_back(g);
    std::vector<T> wg(input.size()), back(weights.size());
    for (std::size_t i = 0; i < input.size(); ++i) wg[i] = g * input[i];
    for (std::size_t i = 0; i < weights.size(); ++i) back[i] = g * weights[i];
    weight_grads.push_back(std::move(wg));
    return back;
  }
  T mean_weight_grad(std::size_t i) const {
    std::vector<T> list;
    for (const auto& g : weight_grads) list.push_back(g[i]);
    return mean_of(list);
  }
  void update(const SgdStep<T>& s) {
    if (bias_grads.empty()) return;
    for (std::size_t i = 0; i < weights.size(); ++i)
      sgd_update(weights[i], weight_velocity[i], mean_weight_grad(i), s);
    sgd_update(bias, bias_velocity, mean_of(bias_grads), s);
    clear();
  }
  void clear() {
    weight_grads.clear();
    bias_grads.clear();
  }
};

// Dense layer = a list of n_out neurons; its input gradient is the sum of theirs.
template <class T>
class Linear : public Module<T> {
 public:
  Linear(int n_in, int n_out, const LayerParams& p) : n_in_(n_in), nodes_(n_out) {
    for (int o = 0; o < n_out; ++o) {
      nodes_[o].weights.assign(p.weights.begin() + std::size_t(o) * n_in,
                               p.weights.begin() + std::size_t(o + 1) * n_in);
      nodes_[o].weight_velocity.assign(std::size_t(n_in), T(0));
      nodes_[o].bias = p.bias[o];
    }
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
  using Module<T>::update;
  void update(const SgdStep<T>& s) override {
    for (auto& n : nodes_) n.update(s);
  }
  LayerParams velocity() const override {
    LayerParams v;
    for (const auto& n : nodes_) {
      for (T x : n.weight_velocity) v.weights.push_back(static_cast<float>(x));
      v.bias.push_back(static_cast<float>(n.bias_velocity));
    }
    return v;
  }
  void set_velocity(const LayerParams& v) override {
    for (std::size_t o = 0; o < nodes_.size(); ++o) {
      for (int i = 0; i < n_in_; ++i)
        nodes_[o].weight_velocity[std::size_t(i)] =
            static_cast<T>(v.weights[o * std::size_t(n_in_) + i]);
      nodes_[o].bias_velocity = static_cast<T>(v.bias[o]);
    }
  }
  bool mean_gradients(std::vector<T>& w, std::vector<T>& b) const override {
    w.clear();
    b.clear();
    for (const auto& n : nodes_) {
      for (int i = 0; i < n_in_; ++i) w.push_back(n.mean_weight_grad(i));
      b.push_back(mean_of(n.bias_grads));
    }
    return true;
  }
  LayerParams parameters() const override {
    LayerParams p;
    for (const auto& n : nodes_) {
      for (T v : n.weights) p.weights.push_back(static_cast<float>(v));
      p.bias.push_back(static_cast<float>(n.bias));
    }
    return p;
  }
  void discard_gradients() override {
    for (auto& n : nodes_) n.clear();
  }
  std::vector<T*> parameter_pointers() override {
    std::vector<T*> ptrs;
    for (auto& n : nodes_)
      for (T& w : n.weights) ptrs.push_back(&w);
    for (auto& n : nodes_) ptrs.push_back(&n.bias);
    return ptrs;
  }

 private:
  int n_in_;
  std::vector<LinearNode<T>> nodes_;
};

// One output channel of a convolution layer: n_in kernels of k x k and one bias.
template <class T>
class ConvNode {
 public:
  std::vector<Matrix<T>> kernels;
  T bias = 0;
  std::vector<Matrix<T>> kernel_velocity;  // one per kernel, for momentum
  T bias_velocity = 0;
  int pad = 0;
  std::vector<Matrix<T>> padded_input;                 // remembered by forward
  std::vector<std::vector<Matrix<T>>> kernel_grads;    // one entry per sample
  std::vector<T> bias_grads;                           // one entry per sample

  // Sum over input channels of the valid cross-correlation of the padded channel with its
  // kernel, then + bias.
  Matrix<T> forward(const std::vector<Matrix<T>>& x) {
    padded_input.clear();
    for (const auto& m : x) padded_input.push_back(zero_pad(m, pad, pad));
    Matrix<T> out = cross_correlate(padded_input[0], kernels[0]);
    for (std::size_t c = 1; c < kernels.size(); ++c) {
      const Matrix<T> part = cross_correlate(padded_input[c], kernels[c]);
      for (std::size_t i = 0; i < out.v.size(); ++i) out.v[i] += part.v[i];
    }
    for (T& v : out.v) v += bias;
    return out;
  }
  // bias grad = sum of G; kernel grad c = padded input c (x) G; input grad c = crop(full(G, k_c)).
  std::vector<Matrix<T>> backward(const Matrix<T>& g) {
    T gb = 0;
    for (T v : g.v) gb += v;
    bias_grads.push_back(gb);
    std::vector<Matrix<T>> kg, back;
    for (std::size_t c = 0; c < kernels.size(); ++c) {
      kg.push_back(cross_correlate(padded_input[c], g));
      back.push_back(crop(full_convolve(g, kernels[c]), pad));
    }
    kernel_grads.push_back(std::move(kg));
    return back;
  }
  T mean_kernel_grad(std::size_t c, std::size_t i) const {
    std::vector<T> list;
    for (const auto& g : kernel_grads) list.push_back(g[c].v[i]);
    return mean_of(list);
  }
  void update(const SgdStep<T>& s) {
    if (bias_grads.empty()) return;
    for (std::size_t c = 0; c < kernels.size(); ++c)
      for (std::size_t i = 0; i < kernels[c].v.size(); ++i)
        sgd_update(kernels[c].v[i], kernel_velocity[c].v[i], mean_kernel_grad(c, i), s);
    sgd_update(bias, bias_velocity, mean_of(bias_grads), s);
    clear();
  }
  void clear() {
    kernel_grads.clear();
    bias_grads.clear();
  }
};

// Convolution layer = a list of n_out nodes; its input gradient is the sum of theirs.
template <class T>
class Conv : public Module<T> {
 public:
  Conv(const LayerSpec& l, const LayerParams& p) : nodes_(l.out) {
    const std::size_t kk = std::size_t(l.k) * l.k;
    for (int o = 0; o < l.out; ++o) {
      nodes_[o].pad = l.pad;
      for (int c = 0; c < l.in; ++c) {
        Matrix<T> k(l.k, l.k);
        for (std::size_t i = 0; i < kk; ++i)
          k.v[i] = p.weights[(std::size_t(o) * l.in + c) * kk + i];
        nodes_[o].kernels.push_back(std::move(k));
        nodes_[o].kernel_velocity.emplace_back(l.k, l.k);
      }
      nodes_[o].bias = p.bias[o];
    }
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
  using Module<T>::update;
  void update(const SgdStep<T>& s) override {
    for (auto& n : nodes_) n.update(s);
  }
  LayerParams velocity() const override {
    LayerParams v;
    for (const auto& n : nodes_) {
      for (const auto& k : n.kernel_velocity)
        for (T x : k.v) v.weights.push_back(static_cast<float>(x));
      v.bias.push_back(static_cast<float>(n.bias_velocity));
    }
    return v;
  }
  void set_velocity(const LayerParams& v) override {
    std::size_t at = 0;
    for (std::size_t o = 0; o < nodes_.size(); ++o) {
      for (auto& k : nodes_[o].kernel_velocity)
        for (T& x : k.v) x = static_cast<T>(v.weights[at++]);
      nodes_[o].bias_velocity = static_cast<T>(v.bias[o]);
    }
  }
  bool mean_gradients(std::vector<T>& w, std::vector<T>& b) const override {
    w.clear();
    b.clear();
    for (const auto& n : nodes_) {
      for (std::size_t c = 0; c < n.kernels.size(); ++c)
        for (std::size_t i = 0; i < n.kernels[c].v.size(); ++i) w.push_back(n.mean_kernel_grad(c, i));
      b.push_back(mean_of(n.bias_grads));
    }
    return true;
  }
  LayerParams parameters() const override {
    LayerParams p;
    for (const auto& n : nodes_) {
      for (const auto& k : n.kernels)
        for (T v : k.v) p.weights.push_back(static_cast<float>(v));
      p.bias.push_back(static_cast<float>(n.bias));
    }
    return p;
  }
  void discard_gradients() override {
    for (auto& n : nodes_) n.clear();
  }
  std::vector<T*> parameter_pointers() override {
    std::vector<T*> ptrs;
    for (auto& n : nodes_)
      for (auto& k : n.kernels)
        for (T& w : k.v) ptrs.push_back(&w);
    for (auto& n : nodes_) ptrs.push_back(&n.bias);
    return ptrs;
  }

 private:
  std::vector<ConvNode<T>> nodes_;
  Shape in_shape_;
};

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

// Softmax cross-entropy of one sample: p = softmax(logits) computed after subtracting the largest
// logit, loss = -log p[label] = log(sum_j e^(z_j - m)) - (z_label - m); grad = p - onehot(label).
template <class T>
T softmax_cross_entropy(const Tensor<T>& logits, int label, Tensor<T>* grad) {
  const std::vector<T>& z = logits.data;
  const T m = *std::max_element(z.begin(), z.end());
  T sum = 0;
  for (T v : z) sum += std::exp(v - m);
  if (grad) {
    *grad = logits;
    for (std::size_t j = 0; j < z.size(); ++j)
      grad->data[j] = std::exp(z[j] - m) / sum - (static_cast<int>(j) == label ? T(1) : T(0));
  }
  return std::log(sum) - (z[label] - m);
}

// One module of the given layer kind, its parameters converted from float to T.
template <class T>
std::unique_ptr<Module<T>> make_module(const LayerSpec& l, const LayerInfo& info,
                                       const LayerParams& p) {
  switch (l.kind) {
    case LayerKind::Conv: return std::make_unique<Conv<T>>(l, p);
    case LayerKind::Dense: return std::make_unique<Linear<T>>(l.in, l.out, p);
    case LayerKind::ReLU: return std::make_unique<ReLU<T>>();
    case LayerKind::Sigmoid: return std::make_unique<Sigmoid<T>>();
    case LayerKind::MaxPool: return std::make_unique<MaxPool<T>>(l.k);
    case LayerKind::Flatten: return std::make_unique<Flatten<T>>();
  }
  (void)info;
  throw Error("unknown layer kind");
}

// A model is itself a module: an ordered list of modules.
template <class T>
class Model : public Module<T> {
 public:
  Model(const ModelSpec& spec, const Parameters& p) {
    check_parameters(spec, p);
    for (std::size_t i = 0; i < spec.layers.size(); ++i)
      modules_.push_back(make_module<T>(spec.layers[i], spec.info[i], p.layers[i]));
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    Tensor<T> v = x;
    for (auto& m : modules_) v = m->forward(v);
    return v;
  }
  Tensor<T> backward(const Tensor<T>& g) override {
    Tensor<T> v = g;
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) v = (*it)->backward(v);
    return v;
  }
  using Module<T>::update;
  void update(const SgdStep<T>& s) override {
    for (auto& m : modules_) m->update(s);
  }
  void discard_gradients() override {
    for (auto& m : modules_) m->discard_gradients();
  }
  std::vector<std::unique_ptr<Module<T>>>& modules() { return modules_; }
  const std::vector<std::unique_ptr<Module<T>>>& modules() const { return modules_; }

 private:
  std::vector<std::unique_ptr<Module<T>>> modules_;
};

// The reference path behind the Network interface.
template <class T>
class Network : public scratchcnn::Network {
 public:
  Network(const ModelSpec& spec, const Parameters& p) : spec_(spec), model_(spec, p) {}

  const ModelSpec& spec() const override { return spec_; }
  std::string name() const override { return "reference"; }
  Model<T>& model() { return model_; }

  StepResult sgd_step(const Batch& batch, const Sgd& sgd) override {
    const StepResult r = accumulate(batch);
    model_.update(SgdStep<T>{static_cast<T>(sgd.lr), static_cast<T>(sgd.momentum),
                             static_cast<T>(sgd.weight_decay)});
    return r;
  }

  Parameters velocity() const override {
    Parameters v;
    for (const auto& m : model_.modules()) v.layers.push_back(m->velocity());
    return v;
  }

  void set_velocity(const Parameters& v) override {
    check_parameters(spec_, v);
    for (std::size_t i = 0; i < v.layers.size(); ++i) model_.modules()[i]->set_velocity(v.layers[i]);
  }

  Parameters gradients(const Batch& batch, StepResult* result = nullptr) override {
    const StepResult r = accumulate(batch);
    if (result) *result = r;
    Parameters g;
    for (const auto& m : model_.modules()) {
      std::vector<T> w, b;
      LayerParams lp;
      if (m->mean_gradients(w, b)) {
        for (T v : w) lp.weights.push_back(static_cast<float>(v));
        for (T v : b) lp.bias.push_back(static_cast<float>(v));
      }
      g.layers.push_back(std::move(lp));
    }
    model_.discard_gradients();
    return g;
  }

  Parameters parameters() const override {
    Parameters p;
    for (const auto& m : model_.modules()) p.layers.push_back(m->parameters());
    return p;
  }

 protected:
  void predict_unchecked(const float* images, int n, float* logits) override {
    const int classes = spec_.classes();
    for (int s = 0; s < n; ++s) {
      const Tensor<T> out = model_.forward(sample(images, s));
      for (int j = 0; j < classes; ++j) logits[std::size_t(s) * classes + j] = static_cast<float>(out.data[j]);
    }
  }

 private:
  Tensor<T> sample(const float* images, int s) const {
    Tensor<T> x(spec_.input);
    const float* src = images + std::size_t(s) * x.data.size();
    for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<T>(src[i]);
    return x;
  }

  // Forward and backward of every sample, one at a time, filling the gradient lists.
  // On a bad batch or a non-finite loss the lists are dropped and Error is thrown.
  StepResult accumulate(const Batch& batch) {
    StepResult r;
    T loss_sum = 0;
    check_batch(spec_, batch);
    for (int s = 0; s < batch.n; ++s) {
      const int label = batch.labels[s];
      const Tensor<T> logits = model_.forward(sample(batch.images, s));
      Tensor<T> grad;
      loss_sum += softmax_cross_entropy(logits, label, &grad);
      const auto best = std::max_element(logits.data.begin(), logits.data.end());
      if (best - logits.data.begin() == label) ++r.correct;
      model_.backward(grad);
    }
    r.loss = static_cast<double>(loss_sum / static_cast<T>(batch.n));
    if (!std::isfinite(r.loss)) {
      model_.discard_gradients();
      throw Error("loss is " + std::string(std::isnan(r.loss) ? "NaN" : "infinite") +
                  "; parameters left unchanged");
    }
    return r;
  }

  ModelSpec spec_;
  Model<T> model_;
};

}  // namespace scratchcnn::reference
