#pragma once
// The module contract of the origin design (docs/architecture.md, "The reference path"), and the
// one place that moves parameters in and out of modules.
#include <functional>
#include <vector>

#include "core/dropout.hpp"
#include "reference/tensor.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/sgd.hpp"

namespace scratchcnn::reference {

// One update's settings in the scalar type of the path (the rule: scratchcnn/sgd.hpp).
template <class T>
using SgdStep = UpdateRule<T>;

// The mean of a list of per-sample values: their sum in sample order, divided by the count.
template <class T>
T mean_of(const std::vector<T>& list) {
  T s = 0;
  for (T v : list) s += v;
  return s / static_cast<T>(list.size());
}

// One learned number of a node: its value, its optimizer state (velocity: SGD's momentum buffer
// or Adam's first moment; second: Adam's second moment), and its list of per-sample gradients
// since the last update ("a list per parameter").
template <class T>
struct Param {
  T value = 0;
  T velocity = 0;
  T second = 0;
  std::vector<T> grads;

  // w <- the update rule applied with the mean of the list; then the list is cleared. Nothing
  // happens when no sample has been seen since the last update.
  void update(const SgdStep<T>& s) {
    if (grads.empty()) return;
    apply_update(value, velocity, second, mean_of(grads), s);
    grads.clear();
  }
};

// The contract: forward, backward and update on one sample at a time. The other members move
// parameters, velocities and mean gradients in and out in the canonical layout of Parameters
// (all weights, then all biases); modules with parameters get them from ParamModule.
template <class T>
class Module {
 public:
  virtual ~Module() = default;
  // One sample.
  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  // The gradient wrt this module's output for the sample of the last forward; returns the
  // gradient wrt its input and, for modules with parameters, appends to the gradient lists.
  virtual Tensor<T> backward(const Tensor<T>& grad_out) = 0;
  // The sample the next forward is for: the key of its training step's dropout masks (null:
  // evaluation) and the module's layer index and the sample's index in the batch. Only dropout
  // uses it.
  virtual void set_sample(const DropoutKey* /*key*/, std::uint64_t /*layer*/,
                          std::uint64_t /*sample*/) {}
  // The batch-level hook, for the one layer whose forward needs the whole batch (batch norm,
  // batchnorm.hpp); every other module keeps the defaults. In a training step of a model with
  // such a module the network runs the batch in segments cut at it: every sample's forward up to
  // it, then begin_batch with all their inputs (the batch statistics), then each sample's forward
  // through it and on; after every sample's backward has come back to it, batch_gradients with
  // all their output gradients, then each sample's backward through it (after set_sample names
  // the sample) and on. end_batch returns it to evaluation.
  virtual bool batch_level() const { return false; }
  virtual void begin_batch(const std::vector<Tensor<T>>& /*inputs*/) {}
  virtual void batch_gradients(const std::vector<Tensor<T>>& /*grad_outs*/) {}
  virtual void end_batch() {}
  // Every parameter: the Sgd rule with the mean of its gradient list, then the list is cleared.
  // No-op without parameters.
  virtual void update(const SgdStep<T>& /*step*/) {}
  void update(T lr) {
    SgdStep<T> s;
    s.lr = lr;
    update(s);
  }

  // The mean of the gradient lists, without clearing them; false without parameters.
  virtual bool mean_gradients(std::vector<T>& /*weights*/, std::vector<T>& /*bias*/) const {
    return false;
  }
  // Parameters, velocities and second moments (empty without parameters).
  virtual LayerParams parameters() const { return {}; }
  virtual LayerParams velocity() const { return {}; }
  virtual LayerParams second_moment() const { return {}; }
  // Sizes already checked by the caller.
  virtual void set_velocity(const LayerParams& /*v*/) {}
  virtual void set_second_moment(const LayerParams& /*s*/) {}
  // Drops the gradient lists without applying them.
  virtual void discard_gradients() {}
  // Pointers to the parameters, for finite-difference checks.
  virtual std::vector<T*> parameter_pointers() { return {}; }
};

// A module whose nodes own Params. It names them once, in canonical order (visit), and every
// plumbing member above is written here, once, for all such modules.
template <class T>
class ParamModule : public Module<T> {
 public:
  enum class Part { Weights, Bias };
  using Visitor = std::function<void(Param<T>&)>;

  using Module<T>::update;
  void update(const SgdStep<T>& s) override {
    each([&](Param<T>& p) { p.update(s); });
  }
  bool mean_gradients(std::vector<T>& w, std::vector<T>& b) const override {
    w.clear();
    b.clear();
    visit_const(Part::Weights, [&](const Param<T>& p) { w.push_back(mean_of(p.grads)); });
    visit_const(Part::Bias, [&](const Param<T>& p) { b.push_back(mean_of(p.grads)); });
    return true;
  }
  LayerParams parameters() const override {
    return gather([](const Param<T>& p) { return p.value; });
  }
  LayerParams velocity() const override {
    return gather([](const Param<T>& p) { return p.velocity; });
  }
  LayerParams second_moment() const override {
    return gather([](const Param<T>& p) { return p.second; });
  }
  void set_velocity(const LayerParams& v) override { scatter(v, &Param<T>::velocity); }
  void set_second_moment(const LayerParams& s) override { scatter(s, &Param<T>::second); }
  void discard_gradients() override {
    each([](Param<T>& p) { p.grads.clear(); });
  }
  std::vector<T*> parameter_pointers() override {
    std::vector<T*> ptrs;
    each([&](Param<T>& p) { ptrs.push_back(&p.value); });
    return ptrs;
  }

 protected:
  // Calls f on every Param of `part` in canonical order: node by node, and within a node in the
  // order Parameters lays them out.
  virtual void visit(Part part, const Visitor& f) = 0;

  // Sets every Param's value from `p` (canonical layout, sizes checked by the caller).
  void load(const LayerParams& p) { scatter(p, &Param<T>::value); }

  // Sets one member of every Param from `p` (canonical layout, sizes checked by the caller).
  void scatter(const LayerParams& p, T Param<T>::*member) {
    std::size_t i = 0;
    visit(Part::Weights, [&](Param<T>& q) { q.*member = static_cast<T>(p.weights[i++]); });
    i = 0;
    visit(Part::Bias, [&](Param<T>& q) { q.*member = static_cast<T>(p.bias[i++]); });
  }

 private:
  void each(const Visitor& f) {
    visit(Part::Weights, f);
    visit(Part::Bias, f);
  }
  void visit_const(Part part, const std::function<void(const Param<T>&)>& f) const {
    const_cast<ParamModule*>(this)->visit(part, [&](Param<T>& p) { f(p); });
  }
  template <class Get>
  LayerParams gather(Get get) const {
    LayerParams out;
    visit_const(Part::Weights, [&](const Param<T>& p) { out.weights.push_back(float(get(p))); });
    visit_const(Part::Bias, [&](const Param<T>& p) { out.bias.push_back(float(get(p))); });
    return out;
  }
};

}  // namespace scratchcnn::reference
