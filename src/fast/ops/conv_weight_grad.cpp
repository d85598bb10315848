// Convolution weight and bias gradient of one chunk (op_list.def: conv_weight_grad).
// The weight gradient is cut into blocks of block_ch output channels x block_kx window columns of
// one (input channel, window row); the kernel of a block keeps block_ch x block_kx chunk vectors
// of accumulators in registers over every position, then sums their lanes.
#include "simd.hpp"  // first: see there

#include <algorithm>

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {
namespace {

struct WGradShape {
  int out_ch, in_ch, k, pad, out_h, out_w, in_h, in_w;
};

// The kernel of a CB x KB block: CB output channels from o0, KB window columns from kx0, one
// (i, ky). Input positions outside in_h x in_w are zeros of a virtual border: their products are
// skipped, which leaves every sum bit-identical (an accumulator starts at +0 and can never become
// -0, so adding a +-0 product never changes it). Border = false: every input position exists
// (pad == 0, e.g. a padded copy), and the column test is compiled out (docs/architecture.md).
template <int CB, int KB, bool Border>
void wgrad_kernel(const WGradShape& s, const float* g, const float* in, int o0, int i, int ky,
                  int kx0, float* dw) {
  V acc[CB][KB][kChunkRegs];
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < KB; ++j)
      for (int v = 0; v < kChunkRegs; ++v) acc[b][j][v] = V(0.0f);
  const std::ptrdiff_t g_plane = std::ptrdiff_t(s.out_h) * s.out_w * kChunk;
  const std::ptrdiff_t in_row = std::ptrdiff_t(s.in_w) * kChunk;
  const float* g0 = g + o0 * g_plane;
  const float* in0 = in + i * std::ptrdiff_t(s.in_h) * in_row;
  // Output rows whose input row y + ky - pad exists; output columns [xa, xe) whose KB input
  // columns x + kx0 + j - pad all exist (the others are done chunk vector by chunk vector).
  const int y0 = std::max(0, s.pad - ky), y1 = std::min(s.out_h, s.in_h + s.pad - ky);
  const int c0 = kx0 - s.pad;
  const int xa = std::min(s.out_w, std::max(0, -c0));
  const int xe = std::max(xa, std::min(s.out_w, s.in_w - c0 - KB + 1));
  for (int y = y0; y < y1; ++y) {
    const float* gr = g0 + std::ptrdiff_t(y) * s.out_w * kChunk;
    const float* ir = in0 + (y + ky - s.pad) * in_row;
    for (int x = 0; x < s.out_w; ++x) {
      if (!Border || (x >= xa && x < xe)) {
        const float* ix = ir + std::ptrdiff_t(x + c0) * kChunk;
        V xv[KB][kChunkRegs];
        for (int j = 0; j < KB; ++j)
          for (int v = 0; v < kChunkRegs; ++v) xv[j][v] = load(ix + j * kChunk + v * kLanes);
        for (int b = 0; b < CB; ++b)
          for (int v = 0; v < kChunkRegs; ++v) {
            const V gv = load(gr + b * g_plane + x * kChunk + v * kLanes);
            for (int j = 0; j < KB; ++j) acc[b][j][v] = fmadd(gv, xv[j][v], acc[b][j][v]);
          }
      } else {
        // A border column: one chunk vector at a time.
        for (int j = 0; j < KB; ++j) {
          const int col = x + c0 + j;
          if (col < 0 || col >= s.in_w) continue;
          for (int v = 0; v < kChunkRegs; ++v) {
            const V xv = load(ir + std::ptrdiff_t(col) * kChunk + v * kLanes);
            for (int b = 0; b < CB; ++b)
              acc[b][j][v] =
                  fmadd(load(gr + b * g_plane + x * kChunk + v * kLanes), xv, acc[b][j][v]);
          }
        }
      }
    }
  }
  const int kk = s.k * s.k;
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < KB; ++j) {
      dw[(std::ptrdiff_t(o0 + b) * s.in_ch + i) * kk + ky * s.k + kx0 + j] = hsum_chunk(acc[b][j]);
    }
}

constexpr int kMaxBlockCh = 16, kMaxBlockKx = 7;
// Accumulators, one row of inputs and one gradient vector.
constexpr bool wgrad_fits(int cb, int kb) {
  return (cb == 1 && kb == 1) || cb * kb * kChunkRegs + kb * kChunkRegs + kChunkRegs <= kRegs;
}
using WGradKernel = void (*)(const WGradShape&, const float*, const float*, int, int, int, int,
                             float*);
template <bool Border>
constexpr auto wgrad_kernels() {
  return make_block_table<WGradKernel, kMaxBlockCh, kMaxBlockKx>(
      [](auto cb, auto kb) -> WGradKernel {
        if constexpr (wgrad_fits(cb, kb))
          return &wgrad_kernel<cb, kb, Border>;
        else
          return nullptr;
      });
}
constexpr auto kWGradKernels = wgrad_kernels<false>();
constexpr auto kWGradBorderKernels = wgrad_kernels<true>();

}  // namespace

void conv_weight_grad(int out_ch, int in_ch, int k, int pad, int out_h, int out_w, int in_h,
                      int in_w, const float* g, const float* in, float* dw, float* db) {
  const WGradShape s{out_ch, in_ch, k, pad, out_h, out_w, in_h, in_w};
  const auto& kernels = pad > 0 ? kWGradBorderKernels : kWGradKernels;
  int kb = std::min(k, kMaxBlockKx);
  while (kb > 1 && !wgrad_fits(1, kb)) --kb;
  int cb = std::min(out_ch, kMaxBlockCh);
  while (cb > 1 && !wgrad_fits(cb, kb)) --cb;
  // As many blocks as the largest block needs, of equal size: 64 channels as 8 x 8, not 7 x 9 + 1
  // (a one-channel block does 3 multiply-adds per 4 loads and another pass over the input).
  const int blocks = (out_ch + cb - 1) / cb;
  cb = (out_ch + blocks - 1) / blocks;
  const int cn = out_ch / cb * cb;
  for (int o = 0; o < out_ch; o += cb) {
    const int cbo = o < cn ? cb : out_ch - cn;
    for (int i = 0; i < in_ch; ++i)
      for (int ky = 0; ky < k; ++ky)
        for (int kx = 0; kx < k; kx += kb)
          kernels(cbo, std::min(kb, k - kx))(s, g, in, o, i, ky, kx, dw);
  }
  channel_sums(g, out_ch, std::int64_t(out_h) * out_w * kChunk, db);
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
