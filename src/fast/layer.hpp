#pragma once
// The fast path one layer at a time.
//   LayerKernel: one layer's forward and backward on one chunk (layout.hpp), thread-safe; what
//                fast::Network strings together inside its single OpenMP region per step.
//   Layer:       a LayerKernel with its own parameters and buffers, run over a whole batch with
//                the same chunking and reduction as fast::Network; for parity tests and benchmarks.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "fast/layout.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::fast {

namespace ops {
struct Table;  // fast/ops/ops.hpp
}  // namespace ops

// How a convolution is computed (scratchcnn/network.hpp). Auto: choose_conv_algo.
using scratchcnn::ConvAlgo;
// The algorithm Auto stands for at this shape (Direct or Im2col).
ConvAlgo choose_conv_algo(const LayerSpec& spec, const LayerInfo& info);

// Output rows per tile of the im2col convolution on one chunk: an im2col tile (kdim = Ci*k*k rows
// of rows * out_w * kChunk floats) of about 64K floats stays in L2 next to the GEMM's packed
// panels. Between 1 and out_h.
int im2col_tile_rows(int kdim, int out_h, int out_w);

struct KernelOptions {
  ConvAlgo conv = ConvAlgo::Auto;
  // conv and dense only: apply the ReLU that follows the layer inside its forward (a fused
  // epilogue), and in backward first mask grad_out by (out > 0) in place.
  bool fuse_relu = false;
};

// One layer on one chunk. All arrays are chunk tensors: in (info.in, kChunk), out (info.out,
// kChunk), 64-byte aligned. Weights are read through the pointers given at construction (canonical
// layout, parameters.hpp), so an SGD update of those arrays is seen by the next call.
class LayerKernel {
 public:
  LayerKernel(const LayerSpec& spec, const LayerInfo& info) : spec_(spec), info_(info) {}
  virtual ~LayerKernel() = default;
  LayerKernel(const LayerKernel&) = delete;
  LayerKernel& operator=(const LayerKernel&) = delete;

  const LayerSpec& spec() const { return spec_; }
  const LayerInfo& info() const { return info_; }
  std::size_t in_floats() const { return std::size_t(info_.in.size()) * kChunk; }
  std::size_t out_floats() const { return std::size_t(info_.out.size()) * kChunk; }

  // Floats of per-chunk scratch (padded copies, im2col tiles) kept from forward to backward of the
  // same chunk. The caller zero-fills it once when allocating it and never writes to it; kernels
  // only rely on the parts they never write staying zero.
  virtual std::size_t scratch_floats() const { return 0; }
  // True for flatten: the output is the input (same memory), the input gradient is the output
  // gradient, and forward/backward are never called.
  virtual bool is_view() const { return false; }
  virtual const char* algorithm() const { return ""; }
  // The instruction-set level (isa.hpp) the kernel runs on: the one active when it was made.
  virtual const char* isa() const { return ""; }

  // in: (info.in, kChunk) -> out: (info.out, kChunk).
  virtual void forward(const float* in, float* out, float* scratch) const = 0;
  // in, out: what forward saw and wrote for this chunk; grad_out: (info.out, kChunk), overwritten
  // only with fuse_relu; grad_in: (info.in, kChunk), or null when nobody needs it;
  // grad_w (canonical layout) and grad_b: this chunk's parameter gradients summed over its samples,
  // written (not added to); null for layers without parameters.
  virtual void backward(const float* in, const float* out, float* grad_out, float* grad_in,
                        float* scratch, float* grad_w, float* grad_b) const = 0;

 private:
  LayerSpec spec_;
  LayerInfo info_;
};

// weights, bias: canonical layout, alive as long as the kernel (null for layers without them).
std::unique_ptr<LayerKernel> make_kernel(const LayerSpec& spec, const LayerInfo& info,
                                         const float* weights, const float* bias,
                                         const KernelOptions& options = {});
// The same on the given instruction-set level rather than the active one: a network makes all its
// layer kernels with the one table it captured.
std::unique_ptr<LayerKernel> make_kernel(const ops::Table& ops, const LayerSpec& spec,
                                         const LayerInfo& info, const float* weights,
                                         const float* bias, const KernelOptions& options);

// The scratch_floats() of the kernel make_kernel would make, from the shapes alone (for memory
// estimates: no weights needed).
std::size_t scratch_floats(const LayerSpec& spec, const LayerInfo& info,
                           const KernelOptions& options = {});
// The same on the given level.
std::size_t scratch_floats(const ops::Table& ops, const LayerSpec& spec, const LayerInfo& info,
                           const KernelOptions& options);

// One layer over a batch, with its own copy of the parameters. Chunks run in parallel (OpenMP);
// parameter gradients are per-chunk sums added in chunk order, so every result is bitwise the
// same at any thread count. No ReLU fusion: each layer is exactly its LayerSpec.
class Layer {
 public:
  Layer(const LayerSpec& spec, const LayerInfo& info, const LayerParams& params,
        ConvAlgo conv = ConvAlgo::Auto);
  ~Layer();

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
  // w <- w - lr * mean, for every weight and bias.
  void update(float lr);
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
};

}  // namespace scratchcnn::fast
