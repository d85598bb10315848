#pragma once
// Batch norm's rules, written once for both paths (reference/batchnorm.hpp, fast/batchnorm.cpp),
// in the scalar type T of the path. PyTorch's defaults: epsilon 1e-5, momentum 0.1.
//
// Training, over the batch's N = n x H x W values of a channel (n x 1 for a feature):
//   mean = sum(x) / N, var = sum((x - mean)^2) / N (biased, two passes),
//   inv = 1 / sqrt(var + eps), xhat = (x - mean) x inv, y = xhat x scale + shift.
// Backward, with g the gradient of each sample's own loss (the paths divide the parameter
// gradients by n at the end):
//   d shift = sum(g), d scale = sum(g x xhat),
//   dx = (scale x inv) x ((g - d shift / N) - xhat x (d scale / N)).
// A step that updates the parameters also updates the running statistics:
//   running mean = (1 - momentum) x running mean + momentum x mean,
//   running var = (1 - momentum) x running var + momentum x var x (N / (N - 1)) (unbiased).
// Evaluation normalises with the running statistics instead (inv from the running variance).
// Every operation is rounded on its own (no contraction), so the fast path gets the same bits at
// every instruction-set level.
#include <cmath>

namespace scratchcnn::batchnorm {

inline constexpr double kEps = 1e-5;
inline constexpr double kMomentum = 0.1;

template <class T>
T inv_std(T var) {
  return T(1) / std::sqrt(var + T(kEps));
}

template <class T>
T normalized(T x, T mean, T inv) {
  return (x - mean) * inv;
}

template <class T>
T output(T xhat, T scale, T shift) {
  return xhat * scale + shift;
}

// The input gradient; sum_g and sum_gx are d shift and d scale of the whole batch, n_values N.
template <class T>
T input_grad(T g, T xhat, T scale, T inv, T sum_g, T sum_gx, T n_values) {
  return (scale * inv) * ((g - sum_g / n_values) - xhat * (sum_gx / n_values));
}

template <class T>
void update_running(T& running_mean, T& running_var, T mean, T var, T n_values) {
  const T m = T(kMomentum);
  running_mean = (T(1) - m) * running_mean + m * mean;
  running_var = (T(1) - m) * running_var + m * (var * (n_values / (n_values - T(1))));
}

}  // namespace scratchcnn::batchnorm
