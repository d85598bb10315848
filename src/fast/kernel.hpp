#pragma once
// One layer of the fast path on one chunk (layout.hpp): the LayerKernel contract, the factory
// that picks a kernel for a layer, and the per-op makers behind it (one file per op, mirroring
// src/reference/: conv_direct.cpp and conv_im2col.cpp (chosen in conv_list.cpp), dense.cpp,
// pointwise.cpp, pool.cpp; flatten is in kernel.cpp).
#include <cstddef>
#include <memory>

#include "core/dropout.hpp"
#include "fast/layout.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"

namespace scratchcnn::fast {

namespace ops {
struct Table;  // fast/ops/ops.hpp
}  // namespace ops

// How a convolution is computed (scratchcnn/network.hpp). Auto: choose_conv_algo.
using scratchcnn::ConvAlgo;
// The algorithm Auto stands for at this shape (Direct or Im2col): the first entry of the
// convolution list (conv_list.cpp) that applies to it.
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
  // same chunk. The caller zero-fills it once when allocating it and never writes to it (except a
  // dropout kernel's, whose mask the caller writes: fill_dropout_mask); kernels only rely on the
  // parts they never write staying zero.
  virtual std::size_t scratch_floats() const { return 0; }
  // True for flatten: the output is the input (same memory), the input gradient is the output
  // gradient, and forward/backward are never called.
  virtual bool is_view() const { return false; }
  // "direct", "im2col"; "" for kernels with one way of working (pointwise, pool, flatten).
  virtual const char* algorithm() const { return ""; }
  // The instruction-set level (isa.hpp) the kernel runs on: the one active when it was made.
  virtual const char* isa() const = 0;

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

// ---- For the kernel files ----------------------------------------------------------------------

// A LayerKernel bound to the instruction-set level that was active when it was made (isa.hpp), so
// its plans and every call of one kernel (and of a network made of them) use the same level.
class IsaKernel : public LayerKernel {
 public:
  IsaKernel(const ops::Table& table, const LayerSpec& s, const LayerInfo& i)
      : LayerKernel(s, i), k_(table) {}
  const char* isa() const override;

 protected:
  const ops::Table& k_;
};

// The maker of one kind of kernel. w, b: null for layers without parameters; relu: fuse_relu.
using KernelMaker = std::unique_ptr<LayerKernel> (*)(const ops::Table& table, const LayerSpec& s,
                                                     const LayerInfo& i, const float* w,
                                                     const float* b, bool relu);
std::unique_ptr<LayerKernel> make_dense(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                        const float* w, const float* b, bool relu);  // dense.cpp
std::size_t dense_scratch_floats(const ops::Table&, const LayerSpec&);               // dense.cpp
std::unique_ptr<LayerKernel> make_relu(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                       const float*, const float*, bool);  // pointwise.cpp
std::unique_ptr<LayerKernel> make_sigmoid(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                          const float*, const float*, bool);
std::unique_ptr<LayerKernel> make_tanh (const ops::Table&, const LayerSpec&, const LayerInfo&,
                                          const float*, const float*, bool);  // pointwise.cpp
std::unique_ptr<LayerKernel> make_normalize(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                            const float*, const float*, bool);  // pointwise.cpp
std::unique_ptr<LayerKernel> make_dropout(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                          const float*, const float*, bool);  // pointwise.cpp
// A dropout kernel's mask for one chunk, into its scratch (the one scratch its caller writes):
// for sample s < valid of the chunk (batch index first_sample + s) and feature f, the scale
// 1 / (1 - rate) where dropout_keep(*key, layer, first_sample + s, f) holds, else 0; all ones
// without a key (evaluation).
void fill_dropout_mask(const LayerSpec& spec, const LayerInfo& info, const DropoutKey* key,
                       std::uint64_t layer, std::int64_t first_sample, int valid, float* mask);
std::unique_ptr<LayerKernel> make_avgpool(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                          const float*, const float*, bool);  // pool.cpp
std::unique_ptr<LayerKernel> make_maxpool(const ops::Table&, const LayerSpec&, const LayerInfo&,
                                          const float*, const float*, bool);  // pool.cpp

}  // namespace scratchcnn::fast
