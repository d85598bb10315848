#pragma once
// The one update rule of both paths.

namespace scratchcnn {

// Minibatch SGD with optional momentum (classical or Nesterov's) and weight decay. For every
// parameter w (weights and biases alike) with mean gradient m over the batch and velocity v (zero
// when the network is built):
//   g = m + weight_decay * w        (g = m when weight_decay == 0)
//   momentum != 0:  v = momentum * v + g;  w = w - lr * v
//                   nesterov: w = w - lr * (g + momentum * v) instead (PyTorch's SGD(nesterov=True))
//   momentum == 0:  w = w - lr * g          (v is left as it is; nesterov changes nothing)
// Every product and sum is rounded to the scalar type on its own (no fused multiply-add: the
// library is compiled with -ffp-contract=off). With momentum = weight_decay = 0 it is exactly the
// origin design's w <- w - lr * m.
struct Sgd {
  float lr = 0.1f;
  float momentum = 0;
  float weight_decay = 0;
  bool nesterov = false;
};

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

}  // namespace scratchcnn
