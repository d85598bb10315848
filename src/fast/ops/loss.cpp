// Softmax cross-entropy of one chunk (op_list.def: softmax_cross_entropy); oracle:
// src/reference/loss.hpp.
#include "simd.hpp"  // first: see there

#include <cmath>

#include "exp.hpp"

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

void softmax_cross_entropy(const float* logits, int classes, const int* labels, int valid,
                           float* grad, double* loss, unsigned char* correct) {
  alignas(64) float label_f[kChunk];
  for (int s = 0; s < kChunk; ++s) label_f[s] = s < valid ? float(labels[s]) : -1.0f;
  alignas(64) float max_f[kChunk], sum_f[kChunk];
  for (int v = 0; v < kChunkRegs; ++v) {
    const int off = v * kLanes;
    V m = load(logits + off);
    for (int j = 1; j < classes; ++j) {
      const V z = load(logits + std::ptrdiff_t(j) * kChunk + off);
      m = xsimd::select(z > m, z, m);
    }
    V sum(0.0f);
    for (int j = 0; j < classes; ++j) {
      const V e = vexp(load(logits + std::ptrdiff_t(j) * kChunk + off) - m);
      store(grad + std::ptrdiff_t(j) * kChunk + off, e);
      sum += e;
    }
    const V lab = load(label_f + off);
    const VB live = lab >= V(0.0f);
    for (int j = 0; j < classes; ++j) {
      float* gp = grad + std::ptrdiff_t(j) * kChunk + off;
      const V p = div(load(gp), sum);
      const V onehot = xsimd::select(lab == V(float(j)), V(1.0f), V(0.0f));
      store(gp, xsimd::select(live, p - onehot, V(0.0f)));
    }
    store(max_f + off, m);
    store(sum_f + off, sum);
  }
  for (int s = 0; s < valid; ++s) {
    const int label = labels[s];
    loss[s] = std::log(double(sum_f[s])) -
              (double(logits[std::ptrdiff_t(label) * kChunk + s]) - double(max_f[s]));
    int best = 0;
    for (int j = 1; j < classes; ++j)
      if (logits[std::ptrdiff_t(j) * kChunk + s] > logits[std::ptrdiff_t(best) * kChunk + s]) best = j;
    correct[s] = best == label ? 1 : 0;
  }
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
