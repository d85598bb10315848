// SIMD kernels of the fast path on one chunk; layouts and summation orders in kernels.hpp.
// Every kernel vectorises across the kChunk samples of a chunk (layout.hpp): a "lane vector" is
// kChunk floats, NV xsimd batches (one batch with AVX-512).
// First: it silences a g++ 12 false positive inside the intrinsics headers it includes.
#include "simd.hpp"  // xsimd

#include "fast/kernels.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "dispatch.hpp"
#include "fast/layout.hpp"

namespace scratchcnn::fast::SCRATCHCNN_ISA_NS {
using kernels::Correlation;

namespace {

using V = xsimd::batch<float>;
using VB = xsimd::batch_bool<float>;
constexpr int VS = static_cast<int>(V::size);
static_assert(kChunk % VS == 0, "a chunk is a whole number of SIMD vectors");
constexpr int NV = kChunk / VS;
// Per-core L2 (Zen 4 and 5: 1 MiB). Beyond it, a full extra pass over an activation (a padded
// copy) goes to L3 or memory, and output lines are prefetched.
constexpr double kL2Bytes = 1024.0 * 1024.0;
// Vector registers the register-blocked kernels may fill (accumulators + operands).
constexpr int kRegs = VS >= 16 ? 32 : 16;

using detail::fmadd;

inline V load(const float* p) { return V::load_aligned(p); }
inline void store(float* p, const V& v) { v.store_aligned(p); }
inline V relu(const V& v) { return xsimd::select(v > V(0.0f), v, V(0.0f)); }

// ---- direct correlation -------------------------------------------------------------------------

// A CB x XB block: CB output channels from o0, XB output columns of one output row.
// win: the block's input window, element (i, ky, x + kx) at win + i * in_plane + ky * in_row +
// (x + kx) * kChunk; out: the block's first output, (o0, y, x0).
template <int CB, int XB>
void corr_block(const Correlation& c, const float* win, std::ptrdiff_t in_plane,
                std::ptrdiff_t in_row, const float* bias, bool act, float* out, int o0) {
  V acc[CB][XB][NV];
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < XB; ++j)
      for (int v = 0; v < NV; ++v) acc[b][j][v] = V(0.0f);
  const float* w0 = c.w + o0 * c.so;
  for (int i = 0; i < c.in_ch; ++i) {
    for (int ky = 0; ky < c.k; ++ky) {
      const float* row = win + i * in_plane + ky * in_row;
      const float* wr = w0 + i * c.si + ky * c.sky;
      for (int kx = 0; kx < c.k; ++kx) {
        V x[XB][NV];
        for (int j = 0; j < XB; ++j)
          for (int v = 0; v < NV; ++v) x[j][v] = load(row + (j + kx) * kChunk + v * VS);
        const float* wk = wr + kx * c.skx;
        for (int b = 0; b < CB; ++b) {
          const V wv(wk[b * c.so]);
          for (int j = 0; j < XB; ++j)
            for (int v = 0; v < NV; ++v) acc[b][j][v] = fmadd(wv, x[j][v], acc[b][j][v]);
        }
      }
    }
  }
  const std::ptrdiff_t out_plane = std::ptrdiff_t(c.out_h) * c.out_w * kChunk;
  float* o = out;
  for (int b = 0; b < CB; ++b) {
    const V bv(bias ? bias[o0 + b] : 0.0f);
    for (int j = 0; j < XB; ++j)
      for (int v = 0; v < NV; ++v) {
        const V r = bias ? acc[b][j][v] + bv : acc[b][j][v];
        store(o + b * out_plane + j * kChunk + v * VS, act ? relu(r) : r);
      }
  }
}

constexpr int kMaxCB = 16, kMaxXB = 8;
constexpr bool corr_fits(int cb, int xb) {
  return (cb == 1 && xb == 1) || cb * xb * NV + xb * NV + 1 <= kRegs - 2;
}

using CorrFn = void (*)(const Correlation&, const float*, std::ptrdiff_t, std::ptrdiff_t, const float*,
                       bool, float*, int);

template <int I>
constexpr CorrFn corr_entry() {
  constexpr int cb = I / kMaxXB + 1, xb = I % kMaxXB + 1;
  if constexpr (corr_fits(cb, xb))
    return &corr_block<cb, xb>;
  else
    return nullptr;
}
template <int... I>
constexpr std::array<CorrFn, sizeof...(I)> corr_table(std::integer_sequence<int, I...>) {
  return {corr_entry<I>()...};
}
constexpr auto kCorr = corr_table(std::make_integer_sequence<int, kMaxCB * kMaxXB>{});
CorrFn corr_fn(int cb, int xb) { return kCorr[(cb - 1) * kMaxXB + (xb - 1)]; }

// Estimated cycles of one (i, ky, kx) step of a block: FMAs or loads (vector loads plus
// broadcasts), two of either per cycle, whichever is larger, plus loop and addressing overhead,
// plus a quarter cycle per weight broadcast (each reads another cache line of the weights).
// Measured on the 32 -> 64, 3x3, 28x28 shape (Zen 5, AVX-512, one chunk): forward 6 x 4 blocks
// 232, 3 x 7 238, 8 x 3 241 GFLOP/s; backward-data (32 output channels) 6 x 4 225, 3 x 7 238,
// 8 x 3 214; 2-column blocks and 31-register blocks lose 5-15%.
double corr_step_cost(int cb, int xb) {
  return std::max(cb * xb * NV / 2.0, (xb * NV + cb) / 2.0) + 2.0 + (xb < 3 ? 1.0 : 0.0) +
         0.25 * cb;
}

// The block shape (cb, xb) with the lowest estimated cost for out_ch x out_w, counting the
// remainder blocks at their own cost.
std::pair<int, int> corr_plan(int out_ch, int out_w) {
  double best = std::numeric_limits<double>::max();
  std::pair<int, int> pick{1, 1};
  for (int cb = 1; cb <= std::min(out_ch, kMaxCB); ++cb)
    for (int xb = 1; xb <= std::min(out_w, kMaxXB); ++xb) {
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

// ---- convolution weight gradient ---------------------------------------------------------------

struct WGrad {
  int out_ch, in_ch, k, pad, out_h, out_w, in_h, in_w;
};

// Accumulates CB output channels from o0 x KB kernel columns from kx0, one (i, ky), over all
// positions and lanes, then reduces the lanes. Input positions outside in_h x in_w are zeros of a
// virtual border: their products are skipped, which leaves every sum bit-identical (an
// accumulator starts at +0 and can never become -0, so adding a +-0 product never changes it).
// Border = false: every input position exists (pad == 0, e.g. a padded copy), and the column
// test is compiled out (it cost 10% at the seed shapes and 25% at LeNet-5's 5x5 ones).
template <int CB, int KB, bool Border>
void wgrad_block(const WGrad& s, const float* g, const float* in, int o0, int i, int ky, int kx0,
                 float* dw) {
  V acc[CB][KB][NV];
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < KB; ++j)
      for (int v = 0; v < NV; ++v) acc[b][j][v] = V(0.0f);
  const std::ptrdiff_t g_plane = std::ptrdiff_t(s.out_h) * s.out_w * kChunk;
  const std::ptrdiff_t in_row = std::ptrdiff_t(s.in_w) * kChunk;
  const float* g0 = g + o0 * g_plane;
  const float* in0 = in + i * std::ptrdiff_t(s.in_h) * in_row;
  // Output rows whose input row y + ky - pad exists; output columns [xa, xe) whose KB input
  // columns x + kx0 + j - pad all exist (the others are done lane vector by lane vector).
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
        V xv[KB][NV];
        for (int j = 0; j < KB; ++j)
          for (int v = 0; v < NV; ++v) xv[j][v] = load(ix + j * kChunk + v * VS);
        for (int b = 0; b < CB; ++b)
          for (int v = 0; v < NV; ++v) {
            const V gv = load(gr + b * g_plane + x * kChunk + v * VS);
            for (int j = 0; j < KB; ++j) acc[b][j][v] = fmadd(gv, xv[j][v], acc[b][j][v]);
          }
      } else {
        // A border column: one lane vector at a time.
        for (int j = 0; j < KB; ++j) {
          const int col = x + c0 + j;
          if (col < 0 || col >= s.in_w) continue;
          for (int v = 0; v < NV; ++v) {
            const V xv = load(ir + std::ptrdiff_t(col) * kChunk + v * VS);
            for (int b = 0; b < CB; ++b)
              acc[b][j][v] = fmadd(load(gr + b * g_plane + x * kChunk + v * VS), xv, acc[b][j][v]);
          }
        }
      }
    }
  }
  const int kk = s.k * s.k;
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < KB; ++j) {
      V t = acc[b][j][0];
      for (int v = 1; v < NV; ++v) t += acc[b][j][v];
      dw[(std::ptrdiff_t(o0 + b) * s.in_ch + i) * kk + ky * s.k + kx0 + j] = detail::hsum(t);
    }
}

constexpr int kMaxWB = 16, kMaxKB = 7;
constexpr bool wgrad_fits(int cb, int kb) {
  return (cb == 1 && kb == 1) || cb * kb * NV + kb * NV + NV <= kRegs;
}
using WGradFn = void (*)(const WGrad&, const float*, const float*, int, int, int, int, float*);
template <bool Border, int I>
constexpr WGradFn wgrad_entry() {
  constexpr int cb = I / kMaxKB + 1, kb = I % kMaxKB + 1;
  if constexpr (wgrad_fits(cb, kb))
    return &wgrad_block<cb, kb, Border>;
  else
    return nullptr;
}
template <bool Border, int... I>
constexpr std::array<WGradFn, sizeof...(I)> wgrad_table(std::integer_sequence<int, I...>) {
  return {wgrad_entry<Border, I>()...};
}
constexpr auto kWGrad = wgrad_table<false>(std::make_integer_sequence<int, kMaxWB * kMaxKB>{});
constexpr auto kWGradBorder = wgrad_table<true>(std::make_integer_sequence<int, kMaxWB * kMaxKB>{});
WGradFn wgrad_fn(int cb, int kb, bool border) {
  return (border ? kWGradBorder : kWGrad)[(cb - 1) * kMaxKB + (kb - 1)];
}

// ---- dense weight gradient ---------------------------------------------------------------------

// dw rows r0..r0+RB, columns c0..c0+CV*VS: sum over lanes s of g[r][s] * inT[s][c].
template <int RB, int CV>
void outer_block(int cols, int cols_p, const float* g, const float* inT, int r0, int c0, float* dw) {
  V acc[RB][CV];
  for (int r = 0; r < RB; ++r)
    for (int j = 0; j < CV; ++j) acc[r][j] = V(0.0f);
  for (int s = 0; s < kChunk; ++s) {
    V b[CV];
    for (int j = 0; j < CV; ++j) b[j] = load(inT + std::ptrdiff_t(s) * cols_p + c0 + j * VS);
    for (int r = 0; r < RB; ++r) {
      const V a(g[std::ptrdiff_t(r0 + r) * kChunk + s]);
      for (int j = 0; j < CV; ++j) acc[r][j] = fmadd(a, b[j], acc[r][j]);
    }
  }
  for (int r = 0; r < RB; ++r) {
    float* row = dw + std::ptrdiff_t(r0 + r) * cols + c0;
    for (int j = 0; j < CV; ++j) {
      const int valid = std::min(VS, cols - (c0 + j * VS));
      if (valid == VS) {
        acc[r][j].store_unaligned(row + j * VS);
      } else {
        alignas(64) float tmp[VS];
        acc[r][j].store_aligned(tmp);
        std::memcpy(row + j * VS, tmp, sizeof(float) * std::size_t(valid));
      }
    }
  }
}

constexpr int kMaxRB = 6, kMaxCV = 4;
using OuterFn = void (*)(int, int, const float*, const float*, int, int, float*);
template <int I>
constexpr OuterFn outer_entry() {
  return &outer_block<I / kMaxCV + 1, I % kMaxCV + 1>;
}
template <int... I>
constexpr std::array<OuterFn, sizeof...(I)> outer_table(std::integer_sequence<int, I...>) {
  return {outer_entry<I>()...};
}
constexpr auto kOuter = outer_table(std::make_integer_sequence<int, kMaxRB * kMaxCV>{});

V lane_sum(const float* p, std::int64_t plane) {
  V t[NV];
  for (int v = 0; v < NV; ++v) t[v] = V(0.0f);
  for (std::int64_t q = 0; q < plane; q += kChunk)
    for (int v = 0; v < NV; ++v) t[v] += load(p + q + v * VS);
  for (int v = 1; v < NV; ++v) t[0] += t[v];
  return t[0];
}

}  // namespace

// ---- public entry points ------------------------------------------------------------------------

void plan_correlation(Correlation& c) {
  const auto [cb, xb] = corr_plan(c.out_ch, c.out_w);
  c.cb = cb;
  c.xb = xb;
}

bool border_in_place(std::size_t floats) { return double(floats) * sizeof(float) > kL2Bytes; }

std::size_t correlate_scratch(const Correlation& c) {
  const int xb = c.cb > 0 ? c.xb : corr_plan(c.out_ch, c.out_w).second;
  return std::size_t(c.in_ch) * c.k * (xb + c.k - 1) * kChunk;
}

void correlate(const Correlation& c, const float* in, const float* bias, bool act, float* out,
               float* scratch) {
  const auto [cb, xb] = c.cb > 0 ? std::pair<int, int>{c.cb, c.xb} : corr_plan(c.out_ch, c.out_w);
  const int cn = c.out_ch / cb * cb, xn = c.out_w / xb * xb;
  const CorrFn full = corr_fn(cb, xb);
  const CorrFn xrem = xn < c.out_w ? corr_fn(cb, c.out_w - xn) : nullptr;
  const CorrFn crem = cn < c.out_ch ? corr_fn(c.out_ch - cn, xb) : nullptr;
  const CorrFn both = (xrem && crem) ? corr_fn(c.out_ch - cn, c.out_w - xn) : nullptr;
  const std::ptrdiff_t in_row = std::ptrdiff_t(c.in_w) * kChunk;
  const std::ptrdiff_t in_plane = std::ptrdiff_t(c.in_h) * in_row;
  const std::ptrdiff_t out_plane = std::ptrdiff_t(c.out_h) * c.out_w * kChunk;
  const bool prefetch = double(out_plane) * c.out_ch * sizeof(float) > kL2Bytes;
  // Output channels innermost: the input window of one (y, x) block (in_ch x k rows x
  // xb + k - 1 columns) stays in L1 while every output channel block reads it; the weights
  // (out_ch x in_ch x k x k) stay in L2.
  for (int y = 0; y < c.out_h; ++y) {
    const int iy = y + c.offset;
    const bool rows_inside = iy >= 0 && iy + c.k <= c.in_h;
    for (int x = 0; x < c.out_w; x += xb) {
      const bool xlast = x >= xn;
      const int cols = (xlast ? c.out_w - xn : xb) + c.k - 1;
      const int ix = x + c.offset;
      const float* win;
      std::ptrdiff_t plane = in_plane, row = in_row;
      if (rows_inside && ix >= 0 && ix + cols <= c.in_w) {
        win = in + (std::ptrdiff_t(iy) * c.in_w + ix) * kChunk;
      } else {
        // The window reaches into the zero border: copy it, zeros included, to scratch:
        // (in_ch, k, cols, kChunk). The same values as a zero-padded input, in the same order.
        plane = std::ptrdiff_t(c.k) * cols * kChunk;
        row = std::ptrdiff_t(cols) * kChunk;
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
        win = scratch;
      }
      // The next block's output lines (one per output channel and column: too many streams for
      // the hardware prefetcher) and the input row it reads first, one channel per output block.
      // Only when the output does not fit L2 (small layers lose more to the extra work).
      const int nx = x + xb < c.out_w ? x + xb : 0;
      const int ny = !prefetch ? c.out_h : x + xb < c.out_w ? y : y + 1;
      const int nxe = std::min(c.out_w, nx + xb);
      for (int o = 0; o < c.out_ch; o += cb) {
        const bool clast = o >= cn;
        const CorrFn f = xlast ? (clast ? both : xrem) : (clast ? crem : full);
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
        f(c, win, plane, row, bias, act,
          out + o * out_plane + (std::ptrdiff_t(y) * c.out_w + x) * kChunk, o);
      }
    }
  }
}

void conv_weight_grad(int out_ch, int in_ch, int k, int pad, int out_h, int out_w, int in_h,
                      int in_w, const float* g, const float* in, float* dw, float* db) {
  const WGrad s{out_ch, in_ch, k, pad, out_h, out_w, in_h, in_w};
  int kb = std::min(k, kMaxKB);
  while (kb > 1 && !wgrad_fits(1, kb)) --kb;
  int cb = std::min(out_ch, kMaxWB);
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
          wgrad_fn(cbo, std::min(kb, k - kx), pad > 0)(s, g, in, o, i, ky, kx, dw);
  }
  channel_sums(g, out_ch, std::int64_t(out_h) * out_w * kChunk, db);
}

std::size_t dense_weight_grad_scratch(int cols) {
  return std::size_t(kChunk) * align_floats(std::size_t(cols));
}

void dense_weight_grad(int rows, int cols, const float* g, const float* in, float* scratch, float* dw,
                       float* db) {
  // inT: (kChunk, cols_p), zero beyond cols, so whole vectors can be read at the right edge.
  const int cols_p = static_cast<int>(align_floats(std::size_t(cols)));
  float* inT = scratch;
  for (int s = 0; s < kChunk; ++s) {
    float* dst = inT + std::ptrdiff_t(s) * cols_p;
    for (int c = 0; c < cols; ++c) dst[c] = in[std::ptrdiff_t(c) * kChunk + s];
    for (int c = cols; c < cols_p; ++c) dst[c] = 0.0f;
  }
  const int col_vecs = (cols + VS - 1) / VS;
  for (int r = 0; r < rows; r += kMaxRB) {
    const int rb = std::min(kMaxRB, rows - r);
    for (int cv = 0; cv < col_vecs; cv += kMaxCV) {
      const int n = std::min(kMaxCV, col_vecs - cv);
      kOuter[(rb - 1) * kMaxCV + (n - 1)](cols, cols_p, g, inT, r, cv * VS, dw);
    }
  }
  channel_sums(g, rows, kChunk, db);
}

void pad_copy(const float* in, int c, int h, int w, int pad, float* out) {
  const int wp = w + 2 * pad, hp = h + 2 * pad;
  const std::size_t row_bytes = sizeof(float) * std::size_t(w) * kChunk;
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      std::memcpy(out + ((std::ptrdiff_t(ch) * hp + y + pad) * wp + pad) * kChunk,
                  in + (std::ptrdiff_t(ch) * h + y) * w * kChunk, row_bytes);
}

void crop_copy(const float* in, int c, int h, int w, int pad, float* out) {
  const int wp = w + 2 * pad, hp = h + 2 * pad;
  const std::size_t row_bytes = sizeof(float) * std::size_t(w) * kChunk;
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      std::memcpy(out + (std::ptrdiff_t(ch) * h + y) * w * kChunk,
                  in + ((std::ptrdiff_t(ch) * hp + y + pad) * wp + pad) * kChunk, row_bytes);
}

void im2col(const float* in, int in_ch, int k, int in_h, int in_w, int out_w, int y0, int y1,
            float* col) {
  const std::ptrdiff_t tile = std::ptrdiff_t(y1 - y0) * out_w * kChunk;
  const std::size_t row_bytes = sizeof(float) * std::size_t(out_w) * kChunk;
  for (int i = 0; i < in_ch; ++i)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        float* dst = col + ((std::ptrdiff_t(i) * k + ky) * k + kx) * tile;
        for (int y = y0; y < y1; ++y)
          std::memcpy(dst + std::ptrdiff_t(y - y0) * out_w * kChunk,
                      in + ((std::ptrdiff_t(i) * in_h + y + ky) * in_w + kx) * kChunk, row_bytes);
      }
}

void col2im_add(const float* col, int in_ch, int k, int in_h, int in_w, int out_w, int y0, int y1,
                float* gin) {
  const std::ptrdiff_t tile = std::ptrdiff_t(y1 - y0) * out_w * kChunk;
  const std::int64_t row = std::int64_t(out_w) * kChunk;
  for (int i = 0; i < in_ch; ++i)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        const float* src = col + ((std::ptrdiff_t(i) * k + ky) * k + kx) * tile;
        for (int y = y0; y < y1; ++y) {
          const float* s = src + std::ptrdiff_t(y - y0) * row;
          float* d = gin + ((std::ptrdiff_t(i) * in_h + y + ky) * in_w + kx) * kChunk;
          for (std::int64_t q = 0; q < row; q += VS) store(d + q, load(d + q) + load(s + q));
        }
      }
}

void bias_act(float* out, int channels, std::int64_t plane, std::int64_t ld, const float* bias,
              bool act) {
  for (int c = 0; c < channels; ++c) {
    float* p = out + c * ld;
    const V b(bias[c]);
    if (act)
      for (std::int64_t q = 0; q < plane; q += VS) store(p + q, relu(load(p + q) + b));
    else
      for (std::int64_t q = 0; q < plane; q += VS) store(p + q, load(p + q) + b);
  }
}

void channel_sums(const float* g, int channels, std::int64_t plane, float* db) {
  for (int c = 0; c < channels; ++c) db[c] = detail::hsum(lane_sum(g + c * plane, plane));
}

void relu_forward(const float* in, float* out, std::int64_t count) {
  for (std::int64_t q = 0; q < count; q += VS) store(out + q, relu(load(in + q)));
}

void relu_backward(const float* out, const float* g, float* gin, std::int64_t count) {
  for (std::int64_t q = 0; q < count; q += VS)
    store(gin + q, xsimd::select(load(out + q) > V(0.0f), load(g + q), V(0.0f)));
}

void sigmoid_forward(const float* in, float* out, std::int64_t count) {
  const V one(1.0f);
  for (std::int64_t q = 0; q < count; q += VS) store(out + q, one / (one + xsimd::exp(-load(in + q))));
}

void sigmoid_backward(const float* out, const float* g, float* gin, std::int64_t count) {
  const V one(1.0f);
  for (std::int64_t q = 0; q < count; q += VS) {
    const V o = load(out + q);
    store(gin + q, load(g + q) * (o * (one - o)));
  }
}

void maxpool_forward(const float* in, int c, int h, int w, int k, float* out) {
  const int oh = h / k, ow = w / k;
  for (int ch = 0; ch < c; ++ch)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        const float* win = in + ((std::ptrdiff_t(ch) * h + oy * k) * w + ox * k) * kChunk;
        float* o = out + ((std::ptrdiff_t(ch) * oh + oy) * ow + ox) * kChunk;
        for (int v = 0; v < NV; ++v) {
          V m = load(win + v * VS);
          for (int dy = 0; dy < k; ++dy)
            for (int dx = (dy == 0 ? 1 : 0); dx < k; ++dx) {
              const V x = load(win + (std::ptrdiff_t(dy) * w + dx) * kChunk + v * VS);
              m = xsimd::select(x > m, x, m);
            }
          store(o + v * VS, m);
        }
      }
}

void maxpool_backward(const float* in, const float* out, const float* g, int c, int h, int w, int k,
                      float* gin) {
  const int oh = h / k, ow = w / k;
  for (int ch = 0; ch < c; ++ch)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        const std::ptrdiff_t base = ((std::ptrdiff_t(ch) * h + oy * k) * w + ox * k) * kChunk;
        const std::ptrdiff_t o = ((std::ptrdiff_t(ch) * oh + oy) * ow + ox) * kChunk;
        for (int v = 0; v < NV; ++v) {
          const V m = load(out + o + v * VS), gv = load(g + o + v * VS);
          VB taken(false);
          for (int dy = 0; dy < k; ++dy)
            for (int dx = 0; dx < k; ++dx) {
              const std::ptrdiff_t p = base + (std::ptrdiff_t(dy) * w + dx) * kChunk + v * VS;
              const VB hit = (load(in + p) == m) & ~taken;
              store(gin + p, xsimd::select(hit, gv, V(0.0f)));
              taken = taken | hit;
            }
        }
      }
}

void softmax_cross_entropy(const float* logits, int classes, const int* labels, int valid,
                           float* grad, double* loss, unsigned char* correct) {
  alignas(64) float label_f[kChunk];
  for (int s = 0; s < kChunk; ++s) label_f[s] = s < valid ? float(labels[s]) : -1.0f;
  alignas(64) float max_f[kChunk], sum_f[kChunk];
  for (int v = 0; v < NV; ++v) {
    const int off = v * VS;
    V m = load(logits + off);
    for (int j = 1; j < classes; ++j) {
      const V z = load(logits + std::ptrdiff_t(j) * kChunk + off);
      m = xsimd::select(z > m, z, m);
    }
    V sum(0.0f);
    for (int j = 0; j < classes; ++j) {
      const V e = xsimd::exp(load(logits + std::ptrdiff_t(j) * kChunk + off) - m);
      store(grad + std::ptrdiff_t(j) * kChunk + off, e);
      sum += e;
    }
    const V lab = load(label_f + off);
    const VB live = lab >= V(0.0f);
    for (int j = 0; j < classes; ++j) {
      float* gp = grad + std::ptrdiff_t(j) * kChunk + off;
      const V p = load(gp) / sum;
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

}  // namespace scratchcnn::fast::SCRATCHCNN_ISA_NS
