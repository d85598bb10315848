// Direct correlation (op_list.def: plan_correlation, border_in_place, correlate_scratch,
// correlate): the forward and backward-data pass of a convolution and of a dense layer.
// The output is cut into blocks of block_ch output channels x block_cols columns of one row; the
// kernel of a block keeps block_ch x block_cols chunk vectors of accumulators in registers.
#include "simd.hpp"  // first: see there

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {
namespace {

// The kernel of a CB x XB block: CB output channels from o0, XB output columns of one output row.
// win: the block's input window, element (i, ky, x + kx) at win + i * in_plane + ky * in_row +
// (x + kx) * kChunk; out: the block's first output, (o0, y, x0). The window taps outside
// [ky0, ky1) x [kx0, kx1) read only zeros and are skipped.
struct Taps {
  int ky0, ky1, kx0, kx1;
};
template <int CB, int XB>
void corr_kernel(const Correlation& c, const float* win, std::ptrdiff_t in_plane,
                 std::ptrdiff_t in_row, Taps t, const float* bias, bool act, float* out, int o0) {
  V acc[CB][XB][kChunkRegs];
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < XB; ++j)
      for (int v = 0; v < kChunkRegs; ++v) acc[b][j][v] = V(0.0f);
  const float* w0 = c.w + o0 * c.w_out;
  if (c.k == 1) {
    // A 1x1 window (a dense layer, a pointwise conv): the general loop's per-step address
    // arithmetic (i, ky, kx times runtime strides, for every weight) cost more than the FMAs;
    // here each output channel's weights are one pointer and one stride. The same sums in the
    // same order.
    if (t.ky0 < t.ky1 && t.kx0 < t.kx1) {
      const float* wb[CB];
      for (int b = 0; b < CB; ++b) wb[b] = w0 + b * c.w_out;
      const std::ptrdiff_t w_in = c.w_in;
      for (int i = 0; i < c.in_ch; ++i) {
        V x[XB][kChunkRegs];
        for (int j = 0; j < XB; ++j)
          for (int v = 0; v < kChunkRegs; ++v)
            x[j][v] = load(win + i * in_plane + j * kChunk + v * kLanes);
        for (int b = 0; b < CB; ++b) {
          const V wv(wb[b][i * w_in]);
          for (int j = 0; j < XB; ++j)
            for (int v = 0; v < kChunkRegs; ++v) acc[b][j][v] = fmadd(wv, x[j][v], acc[b][j][v]);
        }
      }
    }
  } else {
  for (int i = 0; i < c.in_ch; ++i) {
    for (int ky = t.ky0; ky < t.ky1; ++ky) {
      const float* row = win + i * in_plane + ky * in_row;
      const float* wr = w0 + i * c.w_in + ky * c.w_ky;
      for (int kx = t.kx0; kx < t.kx1; ++kx) {
        V x[XB][kChunkRegs];
        for (int j = 0; j < XB; ++j)
          for (int v = 0; v < kChunkRegs; ++v) x[j][v] = load(row + (j + kx) * kChunk + v * kLanes);
        const float* wk = wr + kx * c.w_kx;
        for (int b = 0; b < CB; ++b) {
          const V wv(wk[b * c.w_out]);
          for (int j = 0; j < XB; ++j)
            for (int v = 0; v < kChunkRegs; ++v) acc[b][j][v] = fmadd(wv, x[j][v], acc[b][j][v]);
        }
      }
    }
  }
  }
  const std::ptrdiff_t out_plane = std::ptrdiff_t(c.out_h) * c.out_w * kChunk;
  for (int b = 0; b < CB; ++b) {
    const V bv(bias ? bias[o0 + b] : 0.0f);
    for (int j = 0; j < XB; ++j)
      for (int v = 0; v < kChunkRegs; ++v) {
        const V r = bias ? acc[b][j][v] + bv : acc[b][j][v];
        store(out + b * out_plane + j * kChunk + v * kLanes, act ? relu(r) : r);
      }
  }
}

constexpr int kMaxBlockCh = 16, kMaxBlockCols = 8;
// With a 1x1 window a block keeps one weight pointer per output channel in a general register:
// x86-64 has 16, and more channels spill them. Measured on LeNet-5's and the seed model's dense
// layers (Zen 4, batch 128): 4, 6, 8 and 12 channels at most; 6 was fastest on 9 of 10 cases.
constexpr int kMaxBlockCh1x1 = 6;
// Accumulators, one row of inputs and a broadcast weight, with two registers to spare.
constexpr bool corr_fits(int cb, int xb) {
  return (cb == 1 && xb == 1) || cb * xb * kChunkRegs + xb * kChunkRegs + 1 <= kRegs - 2;
}

using CorrKernel = void (*)(const Correlation&, const float*, std::ptrdiff_t, std::ptrdiff_t, Taps,
                            const float*, bool, float*, int);
constexpr auto kCorrKernels =
    make_block_table<CorrKernel, kMaxBlockCh, kMaxBlockCols>([](auto cb, auto xb) -> CorrKernel {
      if constexpr (corr_fits(cb, xb))
        return &corr_kernel<cb, xb>;
      else
        return nullptr;
    });

// Estimated cycles of one (i, ky, kx) step of a block: FMAs or loads (vector loads plus
// broadcasts), two of either per cycle, whichever is larger, plus loop and addressing overhead,
// plus a quarter cycle per weight broadcast (each reads another cache line of the weights).
// The measurements it was fitted to: docs/architecture.md.
double corr_step_cost(int cb, int xb) {
  return std::max(cb * xb * kChunkRegs / 2.0, (xb * kChunkRegs + cb) / 2.0) + 2.0 +
         (xb < 3 ? 1.0 : 0.0) + 0.25 * cb;
}

// The block shape (channels, columns) with the lowest estimated cost for out_ch x out_w, counting
// the remainder blocks at their own cost.
std::pair<int, int> corr_plan(int out_ch, int out_w, int k) {
  double best = std::numeric_limits<double>::max();
  std::pair<int, int> pick{1, 1};
  for (int cb = 1; cb <= std::min(out_ch, k == 1 ? kMaxBlockCh1x1 : kMaxBlockCh); ++cb)
    for (int xb = 1; xb <= std::min(out_w, kMaxBlockCols); ++xb) {
      if (!corr_fits(cb, xb)) continue;
      const int cr = out_ch % cb, xr = out_w % xb;
      const int cn = out_ch / cb, xn = out_w / xb;
      double cost = cn * xn * corr_step_cost(cb, xb);
      if (cr) cost += xn * corr_step_cost(cr, xb);
      if (xr) cost += cn * corr_step_cost(cb, xr);
      if (cr && xr) cost += corr_step_cost(cr, xr);
      if (cost < best - 1e-9) {
        best = cost;
        pick = {cb, xb};
      }
    }
  return pick;
}

std::pair<int, int> block_of(const Correlation& c) {
  return c.block_ch > 0 ? std::pair<int, int>{c.block_ch, c.block_cols}
                        : corr_plan(c.out_ch, c.out_w, c.k);
}

// Copies the input window of a block that reaches into the zero border, zeros included, to
// scratch: (in_ch, k, cols, kChunk), the same values as a zero-padded input in the same order.
// (iy, ix): the window's top left input position, possibly outside the input.
void copy_border_window(const Correlation& c, const float* in, int iy, int ix, int cols,
                        float* scratch) {
  const std::ptrdiff_t in_plane = std::ptrdiff_t(c.in_h) * c.in_w * kChunk;
  const std::ptrdiff_t plane = std::ptrdiff_t(c.k) * cols * kChunk;
  const std::ptrdiff_t row = std::ptrdiff_t(cols) * kChunk;
  const int c0 = std::max(0, -ix), c1 = std::min(cols, c.in_w - ix);
  for (int i = 0; i < c.in_ch; ++i)
    for (int ky = 0; ky < c.k; ++ky) {
      float* d = scratch + i * plane + ky * row;
      const int sy = iy + ky;
      if (sy < 0 || sy >= c.in_h || c1 <= c0) {
        std::memset(d, 0, sizeof(float) * std::size_t(row));
        continue;
      }
      std::memset(d, 0, sizeof(float) * std::size_t(c0) * kChunk);
      std::memcpy(d + std::ptrdiff_t(c0) * kChunk,
                  in + i * in_plane + (std::ptrdiff_t(sy) * c.in_w + ix + c0) * kChunk,
                  sizeof(float) * std::size_t(c1 - c0) * kChunk);
      std::memset(d + std::ptrdiff_t(c1) * kChunk, 0,
                  sizeof(float) * std::size_t(cols - c1) * kChunk);
    }
}

}  // namespace

void plan_correlation(Correlation& c) {
  const auto [cb, xb] = corr_plan(c.out_ch, c.out_w, c.k);
  c.block_ch = cb;
  c.block_cols = xb;
}

bool border_in_place(std::size_t floats) { return double(floats) * sizeof(float) > kL2Bytes; }

std::size_t correlate_scratch(const Correlation& c) {
  const int xb = block_of(c).second;
  return std::size_t(c.in_ch) * c.k * (xb + c.k - 1) * kChunk;
}

void correlate(const Correlation& c, const float* in, const float* bias, bool act, float* out,
               float* scratch) {
  const auto [cb, xb] = block_of(c);
  // Full blocks end at (cn, xn); the remainders have their own kernels.
  const int cn = c.out_ch / cb * cb, xn = c.out_w / xb * xb;
  const CorrKernel full = kCorrKernels(cb, xb);
  const CorrKernel xrem = xn < c.out_w ? kCorrKernels(cb, c.out_w - xn) : nullptr;
  const CorrKernel crem = cn < c.out_ch ? kCorrKernels(c.out_ch - cn, xb) : nullptr;
  const CorrKernel both = (xrem && crem) ? kCorrKernels(c.out_ch - cn, c.out_w - xn) : nullptr;
  const std::ptrdiff_t in_row = std::ptrdiff_t(c.in_w) * kChunk;
  const std::ptrdiff_t in_plane = std::ptrdiff_t(c.in_h) * in_row;
  const std::ptrdiff_t out_plane = std::ptrdiff_t(c.out_h) * c.out_w * kChunk;
  // Prefetching pays only when the output does not fit L2 (small layers lose more to the work).
  const bool prefetch = double(out_plane) * c.out_ch * sizeof(float) > kL2Bytes;
  // The input rows and columns that may hold data (Correlation::data_y0 ...).
  const int data_y0 = std::max(0, c.data_y0);
  const int data_y1 = c.data_y1 < 0 ? c.in_h : std::min(c.in_h, c.data_y1);
  const int data_x0 = std::max(0, c.data_x0);
  const int data_x1 = c.data_x1 < 0 ? c.in_w : std::min(c.in_w, c.data_x1);
  // Output channels innermost: the input window of one (y, x) block (in_ch x k rows x
  // xb + k - 1 columns) stays in L1 while every output channel block reads it; the weights
  // (out_ch x in_ch x k x k) stay in L2.
  for (int y = 0; y < c.out_h; ++y) {
    const int iy = y + c.offset;
    const bool rows_inside = iy >= 0 && iy + c.k <= c.in_h;
    const int ky0 = std::clamp(data_y0 - iy, 0, c.k), ky1 = std::clamp(data_y1 - iy, ky0, c.k);
    for (int x = 0; x < c.out_w; x += xb) {
      const bool xlast = x >= xn;
      const int cols = (xlast ? c.out_w - xn : xb) + c.k - 1;
      const int ix = x + c.offset;
      // Taps that read only zeros for every column of the block: column j of the block reads input
      // column ix + j + kx, j in [0, cols - k + 1).
      const int kx0 = std::clamp(data_x0 - (ix + cols - c.k), 0, c.k);
      const Taps taps{ky0, ky1, kx0, std::clamp(data_x1 - ix, kx0, c.k)};
      const float* win = scratch;
      std::ptrdiff_t plane = std::ptrdiff_t(c.k) * cols * kChunk,
                     row = std::ptrdiff_t(cols) * kChunk;
      if (rows_inside && ix >= 0 && ix + cols <= c.in_w) {
        win = in + (std::ptrdiff_t(iy) * c.in_w + ix) * kChunk;
        plane = in_plane;
        row = in_row;
      } else {
        copy_border_window(c, in, iy, ix, cols, scratch);
      }
      // The next block's output lines (one per output channel and column: too many streams for
      // the hardware prefetcher) and the input row it reads first, one channel per output block.
      // Written out here: in a function of its own, GCC 12 drops the call (prefetches are no
      // effect it must keep) and the layers that need them lose about 8%.
      const int nx = x + xb < c.out_w ? x + xb : 0;
      const int ny = !prefetch ? c.out_h : x + xb < c.out_w ? y : y + 1;
      const int nxe = std::min(c.out_w, nx + xb);
      for (int o = 0; o < c.out_ch; o += cb) {
        const bool clast = o >= cn;
        const CorrKernel f = xlast ? (clast ? both : xrem) : (clast ? crem : full);
        if (ny < c.out_h) {
          for (int b = o; b < std::min(c.out_ch, o + cb); ++b)
            for (int q = nx; q < nxe; ++q)
              __builtin_prefetch(out + b * out_plane + (std::ptrdiff_t(ny) * c.out_w + q) * kChunk, 1);
          const int pr = ny + c.offset + c.k - 1;
          if (pr >= 0 && pr < c.in_h)
            for (int i = o * c.in_ch / c.out_ch; i < (o + cb) * c.in_ch / c.out_ch && i < c.in_ch; ++i)
              for (int q = std::max(0, nx + c.offset); q < std::min(c.in_w, nxe + c.offset + c.k - 1); ++q)
                __builtin_prefetch(in + i * in_plane + (std::ptrdiff_t(pr) * c.in_w + q) * kChunk, 0);
        }
        f(c, win, plane, row, taps, bias, act,
          out + o * out_plane + (std::ptrdiff_t(y) * c.out_w + x) * kChunk, o);
      }
    }
  }
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
