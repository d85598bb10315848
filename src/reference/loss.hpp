#pragma once
// The loss of the origin design (fast twin: the softmax_cross_entropy op, src/fast/ops/loss.cpp).
#include <algorithm>
#include <cmath>
#include <vector>

#include "reference/tensor.hpp"

namespace scratchcnn::reference {

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

}  // namespace scratchcnn::reference
