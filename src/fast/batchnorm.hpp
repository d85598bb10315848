#pragma once
// Batch norm on the fast path (the rules: src/core/batchnorm.hpp; the oracle:
// src/reference/batchnorm.hpp). Its forward in training needs the statistics of the whole batch,
// so a network (and fast::Layer) runs it in phases over every chunk of the batch, with the fixed
// chunk tree of reduce.hpp between them:
//   1. channel_sums of every chunk, added in the tree: the mean (sum / N);
//   2. square_deviations of every chunk, added in the tree: the variance (sum / N);
//   3. forward_train of every chunk;
// and in backward:
//   4. gradient_sums of every chunk (its scale and shift gradients), added in the tree;
//   5. backward_train of every chunk, with those batch totals.
// Within a chunk each sum runs lane by lane (one lane per sample, in feature order) and then adds
// the 16 lanes in a fixed pairwise tree; lanes past the chunk's valid samples count as 0. Plain
// scalar code, rounded operation by operation: the same bits at every instruction-set level,
// thread count and process count. Evaluation (forward) normalises with the running statistics.
#include "fast/kernel.hpp"

namespace scratchcnn::fast {

class BatchNormKernel final : public IsaKernel {
 public:
  // scale, shift: the layer's weights and biases (C each). set_running gives it the running mean
  // and variance (2 x C) forward reads.
  BatchNormKernel(const ops::Table& table, const LayerSpec& s, const LayerInfo& i,
                  const float* scale, const float* shift);
  int channels() const { return channels_; }
  int plane() const { return plane_; }
  void set_running(const float* running) { running_ = running; }

  // Evaluation: the running statistics (initial ones, 0 and 1, before set_running).
  void forward(const float* in, float* out, float*) const override;
  // Never called: training runs backward_train with the batch's totals.
  void backward(const float*, const float*, float*, float*, float*, float*, float*) const override;

  // sums[c] = the sum of channel c over the chunk's first `valid` samples.
  void channel_sums(const float* in, int valid, float* sums) const;
  // sums[c] = the sum of (x - mean[c])^2 over the same values.
  void square_deviations(const float* in, int valid, const float* mean, float* sums) const;
  // out = the normalised input, scaled and shifted; 0 in the lanes past `valid`.
  void forward_train(const float* in, float* out, const float* mean, const float* inv,
                     int valid) const;
  // This chunk's scale gradients sum(g x xhat) into dscale and shift gradients sum(g) into dshift.
  void gradient_sums(const float* in, const float* grad_out, const float* mean, const float* inv,
                     int valid, float* dscale, float* dshift) const;
  // grad_in from the batch's totals (sum_gx: of g x xhat, sum_g: of g) over n_values values per
  // channel; 0 in the lanes past `valid`.
  void backward_train(const float* in, const float* grad_out, float* grad_in, const float* mean,
                      const float* inv, const float* sum_gx, const float* sum_g, float n_values,
                      int valid) const;

 private:
  const float* scale_;
  const float* shift_;
  const float* running_ = nullptr;
  int channels_, plane_;
};

std::unique_ptr<LayerKernel> make_batchnorm(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                            const float* w, const float* b, bool);

}  // namespace scratchcnn::fast
