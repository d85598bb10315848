#pragma once
// The reference (oracle) path: the origin design (docs/architecture.md) written down in C++,
// module by module (one file per kind of layer beside this one).
//
// Samples go through the model one at a time. Dense and convolution layers are lists of Node
// objects whose Params keep one gradient entry per sample; update() applies the mean of those
// lists. Plain scalar loops, no SIMD, no threads: clarity beats speed here. T is float (to compare
// with the fast path) or double (a tighter oracle for tests); src/reference/network.cpp
// instantiates both.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "reference/batchnorm.hpp"
#include "reference/conv.hpp"
#include "reference/dense.hpp"
#include "reference/flatten.hpp"
#include "reference/loss.hpp"
#include "reference/module.hpp"
#include "reference/pointwise.hpp"
#include "reference/pool.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::reference {

// One module of the given layer kind, its parameters converted from float to T.
template <class T>
std::unique_ptr<Module<T>> make_module(const LayerSpec& l, const LayerInfo& info,
                                       const LayerParams& p) {
  switch (l.kind) {
    case LayerKind::Conv: return std::make_unique<Conv<T>>(l, p);
    case LayerKind::Dense: return std::make_unique<Linear<T>>(l.in, l.out, p);
    case LayerKind::ReLU: return std::make_unique<ReLU<T>>();
    case LayerKind::Sigmoid: return std::make_unique<Sigmoid<T>>();
    case LayerKind::Tanh: return std::make_unique<Tanh<T>>();
    case LayerKind::MaxPool: return std::make_unique<MaxPool<T>>(l.k);
    case LayerKind::AvgPool: {
      const int s = l.stride > 0 ? l.stride : l.k;
      return std::make_unique<AvgPool<T>>(l.k, l.k, s, s);
    }
    case LayerKind::GlobalAvgPool:
      return std::make_unique<AvgPool<T>>(info.in.h, info.in.w, info.in.h, info.in.w);
    case LayerKind::Flatten: return std::make_unique<Flatten<T>>();
    case LayerKind::Dropout: return std::make_unique<Dropout<T>>(l.rate);
    case LayerKind::Normalize: return std::make_unique<Normalize<T>>(l, info.in);
    case LayerKind::BatchNorm: return std::make_unique<BatchNorm<T>>(info.in, p);
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
  // Modules [first, last) only.
  Tensor<T> forward_range(std::size_t first, std::size_t last, const Tensor<T>& x) {
    Tensor<T> v = x;
    for (std::size_t i = first; i < last; ++i) v = modules_[i]->forward(v);
    return v;
  }
  Tensor<T> backward_range(std::size_t first, std::size_t last, const Tensor<T>& g) {
    Tensor<T> v = g;
    for (std::size_t i = last; i-- > first;) v = modules_[i]->backward(v);
    return v;
  }
  // The indices of the batch-level modules (module.hpp), in order.
  std::vector<std::size_t> batch_level_modules() const {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 0; i < modules_.size(); ++i)
      if (modules_[i]->batch_level()) cuts.push_back(i);
    return cuts;
  }
  using Module<T>::update;
  void update(const SgdStep<T>& s) override {
    for (auto& m : modules_) m->update(s);
  }
  // Every module learns its own layer index (the model's position, `layer` is ignored).
  void set_sample(const DropoutKey* key, std::uint64_t, std::uint64_t sample) override {
    for (std::size_t i = 0; i < modules_.size(); ++i) modules_[i]->set_sample(key, i, sample);
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
    check_step(sgd);
    const StepResult r = accumulate(batch, DropoutKey{sgd.seed, sgd.step});
    model_.update(SgdStep<T>::of(sgd));
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

  Parameters second_moment() const override {
    Parameters s;
    for (const auto& m : model_.modules()) s.layers.push_back(m->second_moment());
    return s;
  }

  void set_second_moment(const Parameters& s) override {
    check_parameters(spec_, s);
    for (std::size_t i = 0; i < s.layers.size(); ++i) model_.modules()[i]->set_second_moment(s.layers[i]);
  }

  Parameters gradients(const Batch& batch, StepResult* result = nullptr) override {
    const StepResult r = accumulate(batch, DropoutKey{});
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
      model_.set_sample(nullptr, 0, std::uint64_t(s));
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

  // Forward and backward of every sample, one at a time, filling the gradient lists; dropout
  // masks keyed by `key` (gradients(): seed 0, step 0).
  // On a bad batch or a non-finite loss the lists are dropped and Error is thrown.
  StepResult accumulate(const Batch& batch, const DropoutKey& key) {
    StepResult r;
    T loss_sum = 0;
    check_batch(spec_, batch);
    // The modules hold the key only while this step runs: afterwards they evaluate.
    struct Forget {
      Model<T>& m;
      ~Forget() {
        m.set_sample(nullptr, 0, 0);
        for (auto& mod : m.modules()) mod->end_batch();
      }
    } forget{model_};
    if (!model_.batch_level_modules().empty()) {
      loss_sum = accumulate_in_segments(batch, key, r);
    } else for (int s = 0; s < batch.n; ++s) {
      const int label = batch.labels[s];
      model_.set_sample(&key, 0, std::uint64_t(s));
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

  // accumulate's flow for a model with batch-level modules (module.hpp): segments cut at them.
  // Each sample's forward through a segment is run again right before its backward, so every
  // module's backward sees its own forward's state, as in the one-sample flow; the gradient lists
  // fill in sample order. Returns the sum of the losses.
  T accumulate_in_segments(const Batch& batch, const DropoutKey& key, StepResult& r) {
    const std::size_t n = std::size_t(batch.n);
    std::vector<std::size_t> cuts = model_.batch_level_modules();
    cuts.push_back(model_.modules().size());  // the last segment ends at the loss
    std::vector<std::vector<Tensor<T>>> inputs;  // per segment, per sample
    std::vector<Tensor<T>> v(n);
    for (std::size_t s = 0; s < n; ++s) v[s] = sample(batch.images, int(s));
    std::size_t first = 0;
    for (const std::size_t cut : cuts) {
      inputs.push_back(v);
      for (std::size_t s = 0; s < n; ++s) {
        model_.set_sample(&key, 0, s);
        v[s] = model_.forward_range(first, cut, v[s]);
      }
      if (cut == model_.modules().size()) break;
      Module<T>& bn = *model_.modules()[cut];
      bn.begin_batch(v);
      for (std::size_t s = 0; s < n; ++s) {
        model_.set_sample(&key, 0, s);
        v[s] = bn.forward(v[s]);
      }
      first = cut + 1;
    }
    T loss_sum = 0;
    for (std::size_t s = 0; s < n; ++s) {
      const int label = batch.labels[s];
      Tensor<T> grad;
      loss_sum += softmax_cross_entropy(v[s], label, &grad);
      const auto best = std::max_element(v[s].data.begin(), v[s].data.end());
      if (best - v[s].data.begin() == label) ++r.correct;
      v[s] = std::move(grad);
    }
    for (std::size_t k = cuts.size(); k-- > 0;) {
      const std::size_t begin = k == 0 ? 0 : cuts[k - 1] + 1, end = cuts[k];
      if (end < model_.modules().size()) {
        Module<T>& bn = *model_.modules()[end];
        bn.batch_gradients(v);
        for (std::size_t s = 0; s < n; ++s) {
          model_.set_sample(&key, 0, s);
          v[s] = bn.backward(v[s]);
        }
      }
      for (std::size_t s = 0; s < n; ++s) {
        model_.set_sample(&key, 0, s);
        model_.forward_range(begin, end, inputs[k][s]);
        v[s] = model_.backward_range(begin, end, v[s]);
      }
    }
    return loss_sum;
  }

  ModelSpec spec_;
  Model<T> model_;
};

}  // namespace scratchcnn::reference
