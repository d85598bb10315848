#pragma once
// The fast path's ops: the SIMD routines the layers (fast/layer.cpp) and the network are built
// from. Every .cpp file of src/fast/ops/ is compiled once per instruction-set level
// (CMakeLists.txt), each copy with its own flags inside its own namespace
// scratchcnn::fast::ops::isa_<level>, so the copies never share a symbol. Each copy fills one
// Table with the addresses of its ops; the rest of the library is compiled for the baseline and
// reaches the ops only through a Table: a layer through the one it was made with (so a network
// never mixes levels), everyone else through the callables below, which use active().
//
// The ops are listed once, with their documentation, in op_list.def; adding an op is one entry
// there and its definition in a file of this folder named after it.
//
// Vocabulary of these files:
//   op           an entry of op_list.def: one operation on one chunk (layout.hpp), e.g. correlate.
//   lane         one float of a SIMD register; kLanes floats per register.
//   chunk vector the kChunk samples of one position (kChunkRegs registers), the unit most ops
//                vectorise over.
//   block        the part of an op's output whose accumulators live in registers for the whole
//                reduction (e.g. 6 output channels x 4 output columns of a correlation).
//   kernel       the register-blocked routine that computes one block, a template instantiated per
//                block shape; a BlockTable (simd.hpp) picks it at run time. "Kernel" means nothing
//                else here: conv weights are "weights", their side is the window size k.
//   tile         a cache-sized piece of an op's work (GEMM's packed panels, im2col's output rows).
//
// Every op is single-threaded and keeps no state between calls (GEMM reuses per-thread buffers);
// callers run different chunks on different threads. Each one sums in a fixed order that depends
// on nothing but the shapes, so the same inputs always give the same bits. Multiply-adds are fused
// (fmadd) wherever the level has FMA; the SGD update is not (network.cpp).
#include <cstddef>
#include <cstdint>

namespace scratchcnn::fast::ops {

// A direct correlation: for every output channel o and output position (y, x),
//   out[o][y][x] = (sum over i, ky, kx of W(o, i, ky, kx) * in[i][y + offset + ky][x + offset + kx])
//                  + bias[o]
// the sum from 0 with i outermost, then ky, then kx; the bias (when given) added after it, as
// the reference adds it. With relu the result is max(0, .) (the ReLU after a conv or dense layer,
// fused). Input positions outside in_h x in_w read as 0 (a virtual zero border: offset may be
// negative), exactly as if the input had been zero-padded.
// W(o, i, ky, kx) = w[o * w_out + i * w_in + ky * w_ky + kx * w_kx]: strides may be negative, so
// the same op runs a conv forward (W = weights), a conv backward-data (W = weights transposed and
// rotated by 180 degrees, read in place, offset = pad - (k - 1)), and dense forward /
// backward-data (k = 1, 1x1 images). Build it with designated initialisers.
struct Correlation {
  int out_ch = 0, in_ch = 0;
  int k = 1;                 // window size (k x k)
  int out_h = 1, out_w = 1;  // output size
  int in_h = 1, in_w = 1;    // input buffer size
  int offset = 0;
  // Input rows [data_y0, data_y1) and columns [data_x0, data_x1) of the buffer hold data; every
  // other element is zero (a padded copy's border, or what lies outside the buffer when the offset
  // reaches past it). The kernels skip the window rows, and the window columns of a whole block,
  // that fall on zeros: adding w * 0 leaves a sum as it is (for finite w; an infinite or NaN weight
  // on a skipped tap no longer turns that output into NaN, and training stops on a non-finite loss
  // before weights can become so). A bound < 0: the buffer's edge.
  int data_y0 = 0, data_y1 = -1, data_x0 = 0, data_x1 = -1;
  const float* w = nullptr;
  std::ptrdiff_t w_out = 0, w_in = 0, w_ky = 0, w_kx = 0;  // strides of W
  // Block shape (output channels x output columns); 0 = correlate() chooses on every call.
  // plan_correlation() fills it once so the choice is not repeated for every chunk.
  int block_ch = 0, block_cols = 0;
};

enum class Trans { No, Yes };

// One instruction-set level's copy of the ops.
struct Table {
  const char* level;       // "avx512f", "avx2", "sse4.2", "native", "generic"
  const char* xsimd_arch;  // the xsimd architecture the copy was compiled for
  unsigned xsimd_version;  // its xsimd version number (xsimd::available_architectures().best scale)
  int lanes;               // floats per SIMD register
  bool (*fused_fma)();     // multiply-adds rounded once (hardware FMA)?
#define SCRATCHCNN_OP(R, name, params) R(*name) params;
#include "fast/ops/op_list.def"
};

// The table of the level in use (isa.hpp: SCRATCHCNN_ISA, set_isa, else the best one the CPU
// runs). Throws Error when SCRATCHCNN_ISA names a level that is unknown or that this CPU cannot run.
const Table& active();

// ops::name(args...) calls the active level's op: ops::correlate(c, in, ...), ops::sgemm(...).
template <auto Op>
struct OnActive;
template <class R, class... P, R (*Table::*Op)(P...)>
struct OnActive<Op> {
  R operator()(P... args) const { return (active().*Op)(args...); }
};
#define SCRATCHCNN_OP(R, name, params) inline constexpr OnActive<&Table::name> name{};
#include "fast/ops/op_list.def"

}  // namespace scratchcnn::fast::ops

#ifdef SCRATCHCNN_ISA_NS
// Inside a per-level translation unit: this copy's ops and its table (table.cpp).
namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {
#define SCRATCHCNN_OP(R, name, params) R name params;
#include "fast/ops/op_list.def"
bool fused_fma();
extern const Table table;
}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
#endif
