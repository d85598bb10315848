#pragma once
// The one update rule of both paths.
#include <cmath>
#include <cstdint>
#include <string>

#include "scratchcnn/error.hpp"

namespace scratchcnn {

// The optimizers. For every parameter w (weights and biases alike) with mean gradient m over the
// batch, and its state: a velocity v (SGD's momentum buffer, Adam's first moment) and, for Adam, a
// second moment s, all zero when the network is built:
//   Sgd, Nesterov (sgd_update):
//     g = m + weight_decay * w        (g = m when weight_decay == 0)
//     momentum != 0:  v = momentum * v + g;  w = w - lr * v
//                     nesterov: w = w - lr * (g + momentum * v) instead (PyTorch's
//                     SGD(nesterov=True), which needs momentum > 0)
//     momentum == 0:  w = w - lr * g          (v is left as it is)
//   Adam, AdamW (adam_update; PyTorch's Adam and AdamW, amsgrad off), at step t = 1, 2, ...:
//     Adam:   g = m + weight_decay * w    (L2 regularisation through the gradient)
//     AdamW:  g = m;  w = w * (1 - lr * weight_decay)   (decoupled weight decay, first)
//     v = beta1 * v + (1 - beta1) * g;  s = beta2 * s + (1 - beta2) * g * g
//     w = w - (lr / (1 - beta1^t)) * (v / (sqrt(s) / sqrt(1 - beta2^t) + eps))
// The per-step scalars (1 - beta, the bias corrections, 1 - lr * weight_decay) are computed once
// per step in double and rounded to the scalar type once (UpdateRule); every other product and
// sum is rounded on its own (no fused multiply-add: the library is compiled with
// -ffp-contract=off), and sqrt and division are IEEE's, so the rule gives the same bits on every
// instruction-set level. With momentum = weight_decay = 0, Sgd is exactly the origin design's
// w <- w - lr * m.
enum class Optimizer { Sgd, Nesterov, Adam, AdamW };

// One step's optimizer settings. Sgd{lr} alone is the origin's rule.
struct Sgd {
  float lr = 0.1f;
  float momentum = 0;      // Sgd, Nesterov
  float weight_decay = 0;  // all: L2 through the gradient; AdamW: decoupled
  Optimizer optimizer = Optimizer::Sgd;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // Adam, AdamW
  // Adam, AdamW: t, the 1-based count of updates including this one. The network keeps no count:
  // a caller that steps it (train() does) must set it on every step, or every update gets the
  // first step's bias correction. Network::sgd_step refuses t < 1 for them.
  std::int64_t step = 1;
  // Dropout layers: the step's masks are keyed by (seed, step, layer, sample, element), so a run
  // draws the same masks on both paths, at any thread or process count and after a resume.
  std::uint64_t seed = 0;
};

inline bool is_adam(Optimizer o) { return o == Optimizer::Adam || o == Optimizer::AdamW; }

// Throws Error for settings no rule can apply: Adam or AdamW at a step below 1. Both paths'
// sgd_step call it first.
inline void check_step(const Sgd& s) {
  if (is_adam(s.optimizer) && s.step < 1)
    throw Error("adam: step " + std::to_string(s.step) +
                " is not a step count (Sgd::step counts the updates from 1)");
}

// The rule for one parameter, in the scalar type of the path (float: the fast path and the float
// reference; double: the tighter oracle of the tests).
template <class T>
inline void sgd_update(T& w, T& v, T m, T lr, T momentum, T weight_decay, bool nesterov) {
  T g = m;
  if (weight_decay != T(0)) g = g + weight_decay * w;
  if (momentum != T(0)) {
    v = momentum * v + g;
    w = nesterov ? w - lr * (g + momentum * v) : w - lr * v;
  } else {
    w = w - lr * g;
  }
}

// A step's settings with the per-step scalars computed, in the path's scalar type.
template <class T>
struct UpdateRule {
  Optimizer optimizer = Optimizer::Sgd;
  T lr = 0, momentum = 0, weight_decay = 0;
  T beta1 = 0, beta2 = 0, eps = 0;
  T one_minus_beta1 = 0, one_minus_beta2 = 0;
  T step_size = 0;   // lr / (1 - beta1^t)
  T bias2_sqrt = 0;  // sqrt(1 - beta2^t)
  T decay = 1;       // AdamW: 1 - lr * weight_decay

  static UpdateRule of(const Sgd& s) {
    UpdateRule r;
    r.optimizer = s.optimizer;
    r.lr = static_cast<T>(s.lr);
    r.momentum = static_cast<T>(s.momentum);
    r.weight_decay = static_cast<T>(s.weight_decay);
    r.beta1 = static_cast<T>(s.beta1);
    r.beta2 = static_cast<T>(s.beta2);
    r.eps = static_cast<T>(s.eps);
    const double b1 = s.beta1, b2 = s.beta2, t = static_cast<double>(s.step);
    r.one_minus_beta1 = static_cast<T>(1.0 - b1);
    r.one_minus_beta2 = static_cast<T>(1.0 - b2);
    r.step_size = static_cast<T>(double(s.lr) / (1.0 - std::pow(b1, t)));
    r.bias2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(b2, t)));
    r.decay = static_cast<T>(1.0 - double(s.lr) * double(s.weight_decay));
    return r;
  }
};

template <class T>
inline void adam_update(T& w, T& v, T& s, T m, const UpdateRule<T>& r) {
  T g = m;
  if (r.weight_decay != T(0)) {
    if (r.optimizer == Optimizer::AdamW)
      w = w * r.decay;
    else
      g = g + r.weight_decay * w;
  }
  v = r.beta1 * v + r.one_minus_beta1 * g;
  s = r.beta2 * s + r.one_minus_beta2 * (g * g);
  const T denom = std::sqrt(s) / r.bias2_sqrt + r.eps;
  w = w - r.step_size * (v / denom);
}

// The rule of r.optimizer for one parameter: its value w, velocity v, second moment s (Adam only)
// and mean gradient m.
template <class T>
inline void apply_update(T& w, T& v, T& s, T m, const UpdateRule<T>& r) {
  if (is_adam(r.optimizer))
    adam_update(w, v, s, m, r);
  else
    sgd_update(w, v, m, r.lr, r.momentum, r.weight_decay, r.optimizer == Optimizer::Nesterov);
}

}  // namespace scratchcnn
