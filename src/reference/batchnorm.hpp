#pragma once
// Batch norm (fast twin: src/fast/batchnorm.cpp; the rules: src/core/batchnorm.hpp). A list of
// per-channel nodes, each with its scale and shift Params and its running statistics.
//
// It is the one module whose forward needs the whole batch, so it uses the contract's batch-level
// hook (module.hpp): in training the network first hands it every sample's input (begin_batch),
// which fixes the batch mean and variance; each sample's forward then normalises with them; and
// after every sample's backward has reached its output, the network hands it every sample's
// output gradient (batch_gradients), whose sums each sample's backward needs. Outside a batch
// (evaluation, prediction) forward normalises with the running statistics, sample by sample like
// every other module.
#include <vector>

#include "core/batchnorm.hpp"
#include "reference/module.hpp"

namespace scratchcnn::reference {

template <class T>
struct BatchNormNode {
  Param<T> scale, shift;
  T running_mean = 0, running_var = 1;
  T mean = 0, var = 0, inv = 0;  // of the batch in training (begin_batch)
  T sum_g = 0, sum_gx = 0;       // of the batch's output gradients (batch_gradients)
};

template <class T>
class BatchNorm : public ParamModule<T> {
  using typename ParamModule<T>::Part;
  using typename ParamModule<T>::Visitor;

 public:
  BatchNorm(const Shape& in, const LayerParams& p)
      : shape_(in), plane_(std::size_t(in.flat ? 1 : in.h * in.w)), nodes_(std::size_t(in.c)) {
    this->load(p);
    for (std::size_t c = 0; c < nodes_.size(); ++c) {
      nodes_[c].running_mean = p.running.empty() ? T(0) : T(p.running[c]);
      nodes_[c].running_var = p.running.empty() ? T(1) : T(p.running[nodes_.size() + c]);
    }
  }

  bool batch_level() const override { return true; }

  // The batch statistics of every channel over all samples and positions, in sample order.
  void begin_batch(const std::vector<Tensor<T>>& inputs) override {
    inputs_ = inputs;
    values_ = T(double(inputs.size()) * double(plane_));
    for (std::size_t c = 0; c < nodes_.size(); ++c) {
      BatchNormNode<T>& n = nodes_[c];
      T sum = 0;
      for (const Tensor<T>& x : inputs)
        for (std::size_t p = 0; p < plane_; ++p) sum += x.data[c * plane_ + p];
      n.mean = sum / values_;
      T sq = 0;
      for (const Tensor<T>& x : inputs)
        for (std::size_t p = 0; p < plane_; ++p) {
          const T d = x.data[c * plane_ + p] - n.mean;
          sq += d * d;
        }
      n.var = sq / values_;
      n.inv = batchnorm::inv_std(n.var);
    }
    in_batch_ = true;
    seen_batch_ = true;
  }

  void batch_gradients(const std::vector<Tensor<T>>& grad_outs) override {
    for (std::size_t c = 0; c < nodes_.size(); ++c) {
      BatchNormNode<T>& n = nodes_[c];
      n.sum_g = 0;
      n.sum_gx = 0;
      for (std::size_t s = 0; s < grad_outs.size(); ++s)
        for (std::size_t p = 0; p < plane_; ++p) {
          const T g = grad_outs[s].data[c * plane_ + p];
          n.sum_g += g;
          n.sum_gx += g * batchnorm::normalized(inputs_[s].data[c * plane_ + p], n.mean, n.inv);
        }
    }
  }

  void end_batch() override {
    in_batch_ = false;
    inputs_.clear();
  }

  void set_sample(const DropoutKey*, std::uint64_t, std::uint64_t sample) override {
    sample_ = std::size_t(sample);
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    if (!in_batch_) last_ = x;
    Tensor<T> out = x;
    for (std::size_t c = 0; c < nodes_.size(); ++c) {
      const BatchNormNode<T>& n = nodes_[c];
      const T mean = in_batch_ ? n.mean : n.running_mean;
      const T inv = in_batch_ ? n.inv : batchnorm::inv_std(n.running_var);
      for (std::size_t p = 0; p < plane_; ++p) {
        T& v = out.data[c * plane_ + p];
        v = batchnorm::output(batchnorm::normalized(v, mean, inv), n.scale.value, n.shift.value);
      }
    }
    return out;
  }

  // In training (inside a batch, after batch_gradients): the sample of the last set_sample. In
  // evaluation (no training step runs there; for gradient checks): the sample of the last forward,
  // through the fixed affine map of the running statistics.
  Tensor<T> backward(const Tensor<T>& g) override {
    if (!in_batch_) return backward_evaluation(g);
    const Tensor<T>& x = inputs_.at(sample_);
    Tensor<T> grad_in(shape_);
    for (std::size_t c = 0; c < nodes_.size(); ++c) {
      BatchNormNode<T>& n = nodes_[c];
      T dscale = 0, dshift = 0;
      for (std::size_t p = 0; p < plane_; ++p) {
        const std::size_t i = c * plane_ + p;
        const T xhat = batchnorm::normalized(x.data[i], n.mean, n.inv);
        dscale += g.data[i] * xhat;
        dshift += g.data[i];
        grad_in.data[i] = batchnorm::input_grad(g.data[i], xhat, n.scale.value, n.inv, n.sum_g,
                                                n.sum_gx, values_);
      }
      n.scale.grads.push_back(dscale);
      n.shift.grads.push_back(dshift);
    }
    return grad_in;
  }

  Tensor<T> backward_evaluation(const Tensor<T>& g) {
    Tensor<T> grad_in(shape_);
    for (std::size_t c = 0; c < nodes_.size(); ++c) {
      BatchNormNode<T>& n = nodes_[c];
      const T inv = batchnorm::inv_std(n.running_var);
      T dscale = 0, dshift = 0;
      for (std::size_t p = 0; p < plane_; ++p) {
        const std::size_t i = c * plane_ + p;
        dscale += g.data[i] * batchnorm::normalized(last_.data[i], n.running_mean, inv);
        dshift += g.data[i];
        grad_in.data[i] = g.data[i] * (n.scale.value * inv);
      }
      n.scale.grads.push_back(dscale);
      n.shift.grads.push_back(dshift);
    }
    return grad_in;
  }

  // The update rule on scale and shift, and the running statistics from the last batch's.
  using ParamModule<T>::update;
  void update(const SgdStep<T>& s) override {
    if (seen_batch_ && !nodes_.empty() && !nodes_[0].scale.grads.empty())
      for (BatchNormNode<T>& n : nodes_)
        batchnorm::update_running(n.running_mean, n.running_var, n.mean, n.var, values_);
    seen_batch_ = false;
    ParamModule<T>::update(s);
  }
  void discard_gradients() override {
    seen_batch_ = false;
    ParamModule<T>::discard_gradients();
  }

  LayerParams parameters() const override {
    LayerParams p = ParamModule<T>::parameters();
    p.running.resize(2 * nodes_.size());
    for (std::size_t c = 0; c < nodes_.size(); ++c) {
      p.running[c] = float(nodes_[c].running_mean);
      p.running[nodes_.size() + c] = float(nodes_[c].running_var);
    }
    return p;
  }

 protected:
  void visit(Part part, const Visitor& f) override {
    for (auto& n : nodes_) f(part == Part::Weights ? n.scale : n.shift);
  }

 private:
  Shape shape_;
  std::size_t plane_;
  std::vector<BatchNormNode<T>> nodes_;
  std::vector<Tensor<T>> inputs_;  // of the batch in training
  Tensor<T> last_;                 // the last forward's input in evaluation
  T values_ = 0;                   // N: samples x positions
  std::size_t sample_ = 0;
  bool in_batch_ = false, seen_batch_ = false;
};

}  // namespace scratchcnn::reference
