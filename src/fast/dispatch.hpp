#pragma once
// Runtime instruction-set dispatch of the fast kernels (internal).
//
// The sources in src/fast/isa/ are compiled once per instruction-set level (CMakeLists.txt: e.g.
// avx512f, avx2, sse4.2, each with its own -march flags), every copy inside its own namespace
// scratchcnn::fast::SCRATCHCNN_ISA_NS (isa_avx512f, ...), so the copies never share a symbol.
// Each copy fills one Kernels table with the addresses of its entry points. Everything else in
// the library is compiled for the baseline and reaches the kernels only through a table: the
// public free functions (kernels.hpp, gemm.hpp, peak.hpp) through active_kernels(), a
// LayerKernel through the table it captured when it was made (so one network never mixes levels).
#include <cstddef>
#include <cstdint>

#include <memory>

#include "fast/gemm.hpp"
#include "fast/kernels.hpp"
#include "fast/layer.hpp"

// X(return type, name, (parameters), (arguments)) for every entry point of namespace
// scratchcnn::fast::kernels (documented in kernels.hpp) ...
#define SCRATCHCNN_KERNEL_ENTRIES(X)                                                                \
  X(void, plan_correlation, (kernels::Correlation & c), (c))                                                 \
  X(bool, border_in_place, (std::size_t floats), (floats))                                          \
  X(std::size_t, correlate_scratch, (const kernels::Correlation& c), (c))                                    \
  X(void, correlate,                                                                                \
    (const kernels::Correlation& c, const float* in, const float* bias, bool relu, float* out,               \
     float* scratch),                                                                               \
    (c, in, bias, relu, out, scratch))                                                              \
  X(void, conv_weight_grad,                                                                         \
    (int out_ch, int in_ch, int k, int pad, int out_h, int out_w, int in_h, int in_w,               \
     const float* g, const float* in, float* dw, float* db),                                        \
    (out_ch, in_ch, k, pad, out_h, out_w, in_h, in_w, g, in, dw, db))                               \
  X(std::size_t, dense_weight_grad_scratch, (int cols), (cols))                                     \
  X(void, dense_weight_grad,                                                                        \
    (int rows, int cols, const float* g, const float* in, float* scratch, float* dw, float* db),   \
    (rows, cols, g, in, scratch, dw, db))                                                           \
  X(void, pad_copy, (const float* in, int c, int h, int w, int pad, float* out),                    \
    (in, c, h, w, pad, out))                                                                        \
  X(void, crop_copy, (const float* in, int c, int h, int w, int pad, float* out),                   \
    (in, c, h, w, pad, out))                                                                        \
  X(void, im2col,                                                                                   \
    (const float* in, int in_ch, int k, int in_h, int in_w, int out_w, int y0, int y1, float* col), \
    (in, in_ch, k, in_h, in_w, out_w, y0, y1, col))                                                 \
  X(void, col2im_add,                                                                               \
    (const float* col, int in_ch, int k, int in_h, int in_w, int out_w, int y0, int y1,             \
     float* gin),                                                                                   \
    (col, in_ch, k, in_h, in_w, out_w, y0, y1, gin))                                                \
  X(void, bias_act,                                                                                 \
    (float* out, int channels, std::int64_t plane, std::int64_t ld, const float* bias, bool relu),  \
    (out, channels, plane, ld, bias, relu))                                                         \
  X(void, channel_sums, (const float* g, int channels, std::int64_t plane, float* db),              \
    (g, channels, plane, db))                                                                       \
  X(void, relu_forward, (const float* in, float* out, std::int64_t count), (in, out, count))        \
  X(void, relu_backward, (const float* out, const float* g, float* gin, std::int64_t count),        \
    (out, g, gin, count))                                                                           \
  X(void, sigmoid_forward, (const float* in, float* out, std::int64_t count), (in, out, count))     \
  X(void, sigmoid_backward, (const float* out, const float* g, float* gin, std::int64_t count),     \
    (out, g, gin, count))                                                                           \
  X(void, maxpool_forward, (const float* in, int c, int h, int w, int k, float* out),               \
    (in, c, h, w, k, out))                                                                          \
  X(void, maxpool_backward,                                                                         \
    (const float* in, const float* out, const float* g, int c, int h, int w, int k, float* gin),    \
    (in, out, g, c, h, w, k, gin))                                                                  \
  X(void, softmax_cross_entropy,                                                                    \
    (const float* logits, int classes, const int* labels, int valid, float* grad, double* loss,     \
     unsigned char* correct),                                                                       \
    (logits, classes, labels, valid, grad, loss, correct))

// ... and of namespace scratchcnn::fast (gemm.hpp, peak.hpp).
#define SCRATCHCNN_FAST_ENTRIES(X)                                                                  \
  X(void, sgemm,                                                                                    \
    (Trans ta, Trans tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb,     \
     float beta, float* C, int ldc),                                                                \
    (ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))                                                \
  X(float, fma_chains, (long iterations, float seed), (iterations, seed))                           \
  X(double, fma_chains_flop, (long iterations), (iterations))

namespace scratchcnn::fast {

// One instruction-set build of the kernels.
struct Kernels {
  const char* level;       // "avx512f", "avx2", "sse4.2", "native"
  const char* xsimd_arch;  // the xsimd architecture the copy was compiled for
  unsigned xsimd_version;  // its xsimd version number (xsimd::available_architectures().best scale)
  int vector_floats;       // floats per SIMD register
  bool (*fused_fma)();     // multiply-adds rounded once (hardware FMA)?
#define SCRATCHCNN_KERNELS_FIELD(R, name, params, args) R(*name) params;
  SCRATCHCNN_KERNEL_ENTRIES(SCRATCHCNN_KERNELS_FIELD)
  SCRATCHCNN_FAST_ENTRIES(SCRATCHCNN_KERNELS_FIELD)
#undef SCRATCHCNN_KERNELS_FIELD
};

// The table of the level in use (isa.hpp: SCRATCHCNN_ISA, set_isa, else the best one the CPU runs).
// Throws Error when SCRATCHCNN_ISA names a level that is unknown or that this CPU cannot run.
const Kernels& active_kernels();

// make_kernel (layer.hpp) on the given level rather than the active one: a network makes all its
// kernels with the one table it captured.
std::unique_ptr<LayerKernel> make_kernel(const Kernels& table, const LayerSpec& spec,
                                         const LayerInfo& info, const float* weights,
                                         const float* bias, const KernelOptions& options);

// scratch_floats (layer.hpp) on the given level.
std::size_t scratch_floats(const Kernels& table, const LayerSpec& spec, const LayerInfo& info,
                           const KernelOptions& options);

}  // namespace scratchcnn::fast

#ifdef SCRATCHCNN_ISA_NS
// Inside a per-level translation unit: the entry points of this copy.
namespace scratchcnn::fast::SCRATCHCNN_ISA_NS {
#define SCRATCHCNN_KERNELS_DECLARE(R, name, params, args) R name params;
SCRATCHCNN_KERNEL_ENTRIES(SCRATCHCNN_KERNELS_DECLARE)
SCRATCHCNN_FAST_ENTRIES(SCRATCHCNN_KERNELS_DECLARE)
#undef SCRATCHCNN_KERNELS_DECLARE
bool fused_fma();
}  // namespace scratchcnn::fast::SCRATCHCNN_ISA_NS
#endif
