// Dense weight and bias gradient of one chunk (op_list.def: dense_weight_grad): the outer product
// of the output gradient and the input, summed over the chunk's samples. The chunk is first
// transposed (samples outermost), so that the weight gradient's rows can be computed as blocks of
// block_rows rows x block_regs registers of columns.
#include "simd.hpp"  // first: see there

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {
namespace {

// The kernel of an RB x CV block: dw rows r0..r0+RB, columns c0..c0+CV*kLanes:
// sum over samples s of g[r][s] * inT[s][c].
template <int RB, int CV>
void outer_kernel(int cols, int cols_p, const float* g, const float* inT, int r0, int c0,
                  float* dw) {
  V acc[RB][CV];
  for (int r = 0; r < RB; ++r)
    for (int j = 0; j < CV; ++j) acc[r][j] = V(0.0f);
  for (int s = 0; s < kChunk; ++s) {
    V b[CV];
    for (int j = 0; j < CV; ++j) b[j] = load(inT + std::ptrdiff_t(s) * cols_p + c0 + j * kLanes);
    for (int r = 0; r < RB; ++r) {
      const V a(g[std::ptrdiff_t(r0 + r) * kChunk + s]);
      for (int j = 0; j < CV; ++j) acc[r][j] = fmadd(a, b[j], acc[r][j]);
    }
  }
  for (int r = 0; r < RB; ++r) {
    float* row = dw + std::ptrdiff_t(r0 + r) * cols + c0;
    for (int j = 0; j < CV; ++j) {
      const int valid = std::min(kLanes, cols - (c0 + j * kLanes));
      if (valid == kLanes) {
        acc[r][j].store_unaligned(row + j * kLanes);
      } else {
        alignas(64) float tmp[kLanes];
        acc[r][j].store_aligned(tmp);
        std::memcpy(row + j * kLanes, tmp, sizeof(float) * std::size_t(valid));
      }
    }
  }
}

constexpr int kMaxBlockRows = 6, kMaxBlockRegs = 4;
using OuterKernel = void (*)(int, int, const float*, const float*, int, int, float*);
constexpr auto kOuterKernels = make_block_table<OuterKernel, kMaxBlockRows, kMaxBlockRegs>(
    [](auto rb, auto cv) -> OuterKernel { return &outer_kernel<rb, cv>; });

}  // namespace

std::size_t dense_weight_grad_scratch(int cols) {
  return std::size_t(kChunk) * align_floats(std::size_t(cols));
}

void dense_weight_grad(int rows, int cols, const float* g, const float* in, float* scratch,
                       float* dw, float* db) {
  // inT: (kChunk, cols_p), zero beyond cols, so whole registers can be read at the right edge.
  const int cols_p = static_cast<int>(align_floats(std::size_t(cols)));
  float* inT = scratch;
  // A register of kLanes columns of one sample at a time, gathered (lane j reads column c + j).
  alignas(64) std::int32_t lane_offsets[kLanes];
  for (int j = 0; j < kLanes; ++j) lane_offsets[j] = j * kChunk;
  const auto offsets = xsimd::batch<std::int32_t, arch>::load_aligned(lane_offsets);
  const int full = cols / kLanes * kLanes;
  for (int s = 0; s < kChunk; ++s) {
    float* dst = inT + std::ptrdiff_t(s) * cols_p;
    for (int c = 0; c < full; c += kLanes)
      store(dst + c, V::gather(in + std::ptrdiff_t(c) * kChunk + s, offsets));
    for (int c = full; c < cols; ++c) dst[c] = in[std::ptrdiff_t(c) * kChunk + s];
    for (int c = cols; c < cols_p; ++c) dst[c] = 0.0f;
  }
  const int col_regs = (cols + kLanes - 1) / kLanes;
  for (int r = 0; r < rows; r += kMaxBlockRows) {
    const int rb = std::min(kMaxBlockRows, rows - r);
    for (int cv = 0; cv < col_regs; cv += kMaxBlockRegs) {
      const int n = std::min(kMaxBlockRegs, col_regs - cv);
      kOuterKernels(rb, n)(cols, cols_p, g, inT, r, cv * kLanes, dw);
    }
  }
  channel_sums(g, rows, kChunk, db);
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
