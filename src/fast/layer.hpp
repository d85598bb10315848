#pragma once
// fast::Layer: a LayerKernel (kernel.hpp: one layer's forward and backward on one chunk) with its
// own parameters and buffers, run over a whole batch with the same chunking and reduction as
// fast::Network; for parity tests and benchmarks.
#include <cstddef>
#include <memory>
#include <vector>

#include "fast/kernel.hpp"
#include "fast/layout.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::fast {

// One layer over a batch, with its own copy of the parameters. Chunks run in parallel (OpenMP);
// parameter gradients are per-chunk sums added in one tree over chunk indices (reduce.hpp), so
// every result is bitwise the same at any thread count. No ReLU fusion: each layer is exactly its
// LayerSpec. Batch norm runs in training mode (batch statistics) with its phases on one thread.
class Layer {
 public:
  Layer(const LayerSpec& spec, const LayerInfo& info, const LayerParams& params,
        ConvAlgo conv = ConvAlgo::Auto);
  ~Layer();

  // A dropout layer's mask: keyed by `key` as layer `layer` of a network (null, the default:
  // evaluation, the identity). Other layers ignore it.
  void set_dropout(const DropoutKey* key, std::uint64_t layer) {
    key_ = key;
    layer_ = layer;
  }

  // in: (n, info.in.size()) sample-major -> (n, info.out.size()).
  std::vector<float> forward(const float* in, int n);
  // grad_out: (n, info.out.size()) for the samples of the last forward -> (n, info.in.size()).
  // Also computes the parameter-gradient sums of those samples.
  std::vector<float> backward(const float* grad_out);

  // The same on chunked batches (layout.hpp), without packing. in: (chunk_count(n), F_in, kChunk);
  // it is not copied and must stay unchanged until backward_chunked. Returns the output, valid
  // until the next call.
  const float* forward_chunked(const float* in, int n);
  // grad_out: (chunk_count(n), F_out, kChunk) -> grad_in, same layout, valid until the next call.
  // with_grad_in = false skips the input gradient (returns null), as a network's first layer does;
  // with_param_grads = false skips the parameter gradients (gradient_sums() keeps old values).
  const float* backward_chunked(const float* grad_out, bool with_grad_in = true,
                                bool with_param_grads = true);

  // Parameter-gradient sums over the samples of the last backward (canonical layout; empty
  // for layers without parameters).
  const LayerParams& gradient_sums() const { return grad_sum_; }
  // sum / float(n), element by element.
  LayerParams mean_gradients() const;
  const LayerParams& params() const { return params_; }
  const LayerKernel& kernel() const { return *kernel_; }
  int batch() const { return n_; }

 private:
  LayerParams params_;
  std::unique_ptr<LayerKernel> kernel_;
  int n_ = 0;
  const float* in_ = nullptr;  // chunked input of the last forward
  AlignedBuffer in_buf_, out_buf_, grad_out_buf_, grad_in_buf_, scratch_, partial_;
  std::size_t scratch_stride_ = 0, partial_stride_ = 0;
  LayerParams grad_sum_;
  const DropoutKey* key_ = nullptr;
  std::uint64_t layer_ = 0;
  // Batch norm: training mode, over the whole batch (fast/batchnorm.hpp).
  void forward_batchnorm(const float* in, float* out);
  void backward_batchnorm(const float* grad_out, float* grad_in, bool params);
  std::vector<float> stats_;  // mean, var, inv, then the backward totals (C each)
};

}  // namespace scratchcnn::fast
