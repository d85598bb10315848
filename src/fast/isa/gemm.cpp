// Single-threaded SGEMM for the fast path: packed panels, cache blocking and an MR x NR
// register-blocked micro-kernel written with xsimd (vectors run along N, A is broadcast).
//
// Summation convention (pinned by tests/test_gemm.cpp): every element of C is one sequential
// multiply-add chain over k = 0, 1, ..., K-1, started from beta * C (beta == 0: from +0), each step
// c = fma(a_ik, b_kj, c). Blocking over K stores and reloads the partial sum in float, which is
// exact, so the bits depend neither on the block sizes nor on which path (packed or direct) a
// shape takes: only on the inputs.
//
// One exception, for op(A) = A, op(B) = B^T with K >= kDotMinK (the backward-weights shapes of a
// convolution: small M and N, K = pixels x batch): both operands are then contiguous along k, and
// dot products are far cheaper than transposing B into panels. There each element is
//   c = beta * C;  for each chunk of kDotKC k:  c += hadd(lane sums)
// where lane l of a chunk sums k = l, l + VW, ... with fma in k order, hadd is xsimd's fixed
// reduction, and the last K mod VW terms follow as a scalar fma chain. Still a function of the
// inputs and the shape only.
// First: it silences a g++ 12 false positive inside the intrinsics headers it includes.
#include "simd.hpp"  // xsimd

#include "fast/gemm.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <new>
#include <utility>

#include "dispatch.hpp"

namespace scratchcnn::fast::SCRATCHCNN_ISA_NS {
namespace {

using arch = xsimd::default_arch;
using batch = xsimd::batch<float, arch>;
constexpr int VW = static_cast<int>(batch::size);

// Register block MR x (NV * VW). AVX-512 (32 registers): 14 x 32 keeps 28 accumulators, 2 B vectors
// and a broadcast in registers (31 of 32); on one Zen 5 core at 512^3 it runs ~250 GFLOP/s
// against ~245 for 12 x 32 and 8 x 48, and ~205 for 4 x 96. AVX/AVX2 and SSE (16 registers):
// 6 x 2 and 4 x 2 vectors.
#ifndef SCRATCHCNN_GEMM_MR
#define SCRATCHCNN_GEMM_MR (VW >= 16 ? 14 : VW == 8 ? 6 : 4)
#endif
#ifndef SCRATCHCNN_GEMM_NV
#define SCRATCHCNN_GEMM_NV 2
#endif
// KC: depth of a packed block (an MR x KC A micro-panel stays in L1). NC: width of the packed
// KC x NC block of B, which stays in L2 (1 MiB per core on Zen 4) while all of A's panels pass.
#ifndef SCRATCHCNN_GEMM_KC
#define SCRATCHCNN_GEMM_KC 256
#endif
#ifndef SCRATCHCNN_GEMM_NC
#define SCRATCHCNN_GEMM_NC 512
#endif
constexpr int MR = SCRATCHCNN_GEMM_MR;
constexpr int NV = SCRATCHCNN_GEMM_NV;
constexpr int NR = NV * VW;
constexpr int KC = SCRATCHCNN_GEMM_KC;
constexpr int NC = (SCRATCHCNN_GEMM_NC + NR - 1) / NR * NR;
constexpr int MC = (480 + MR - 1) / MR * MR;  // rows of A packed at once (bounds the buffer)

// B is read in place (no packing) when it is not transposed and few A panels reuse it: packing
// would cost about as much as the multiply-adds it serves.
#ifndef SCRATCHCNN_GEMM_DIRECT_B_MAX_M
#define SCRATCHCNN_GEMM_DIRECT_B_MAX_M (2 * MR)
#endif
// A is read in place when it is not transposed (the micro-kernel broadcasts from MR row streams;
// packing those rows into panels is a scalar transpose that cost ~6% at 512^3: 236 -> 252 GFLOP/s
// in place, one Zen 5 core, and in place also wins at 256^3, 1024^3 and 128 x 2048 x 1024), and
// when N is small: each A element then serves few multiply-adds.
#ifndef SCRATCHCNN_GEMM_DIRECT_A_MAX_N
#define SCRATCHCNN_GEMM_DIRECT_A_MAX_N (2 * NR)
#endif

template <int N, class F, int... I>
constexpr void unroll_impl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
// Calls f(integral_constant<int, 0>) ... f(integral_constant<int, N - 1>): forces full unrolling
// so that the accumulators live in registers.
template <int N, class F>
constexpr void unroll(F&& f) {
  unroll_impl<N>(std::forward<F>(f), std::make_integer_sequence<int, N>{});
}

// Operand views of one micro-tile.
//   A: element (r, k) at a[r * ars + k * aks]; packed panels have ars = 1, aks = MRe.
//   B: element (k, j) at b[k * bks + j]; packed panels have bks = NVe * VW (zero padded).
//   C: MRe x ncols at c (row stride ldc), ncols <= NVe * VW.
struct Tile {
  const float* a;
  std::ptrdiff_t ars, aks;
  const float* b;
  std::ptrdiff_t bks;
  float* c;
  std::ptrdiff_t ldc;
  int kc;
  int ncols;
  bool load_c;  // false: start from zero (first K block with beta == 0)
};

template <int MRe, int NVe, bool APacked>
void micro_kernel(const Tile& t) {
  constexpr int NRe = NVe * VW;
  std::array<std::array<batch, NVe>, MRe> acc;
  const bool partial = t.ncols < NRe;
  alignas(64) float edge[MRe * NRe];  // partial tiles go through this buffer

  if (partial) {
    for (int r = 0; r < MRe; ++r)
      for (int j = 0; j < NRe; ++j)
        edge[r * NRe + j] = (t.load_c && j < t.ncols) ? t.c[r * t.ldc + j] : 0.0f;
    unroll<MRe>([&](auto r) {
      unroll<NVe>([&](auto v) { acc[r][v] = batch::load_aligned(&edge[r * NRe + v * VW]); });
    });
  } else if (t.load_c) {
    unroll<MRe>([&](auto r) {
      unroll<NVe>([&](auto v) { acc[r][v] = batch::load_unaligned(t.c + r * t.ldc + v * VW); });
    });
  } else {
    unroll<MRe>([&](auto r) { unroll<NVe>([&](auto v) { acc[r][v] = batch(0.0f); }); });
  }

  const float* a = t.a;
  const float* b = t.b;
  if constexpr (APacked) {
    for (int k = 0; k < t.kc; ++k) {
      std::array<batch, NVe> bv;
      unroll<NVe>([&](auto v) { bv[v] = batch::load_unaligned(b + v * VW); });
      unroll<MRe>([&](auto r) {
        const batch av(a[r]);
        unroll<NVe>([&](auto v) { acc[r][v] = detail::fmadd(av, bv[v], acc[r][v]); });
      });
      a += MRe;
      b += t.bks;
    }
  } else {
    std::array<const float*, MRe> rows;
    unroll<MRe>([&](auto r) { rows[r] = a + r * t.ars; });
    for (int k = 0; k < t.kc; ++k) {
      std::array<batch, NVe> bv;
      unroll<NVe>([&](auto v) { bv[v] = batch::load_unaligned(b + v * VW); });
      const std::ptrdiff_t ko = k * t.aks;
      unroll<MRe>([&](auto r) {
        const batch av(rows[r][ko]);
        unroll<NVe>([&](auto v) { acc[r][v] = detail::fmadd(av, bv[v], acc[r][v]); });
      });
      b += t.bks;
    }
  }

  if (partial) {
    unroll<MRe>([&](auto r) {
      unroll<NVe>([&](auto v) { acc[r][v].store_aligned(&edge[r * NRe + v * VW]); });
    });
    for (int r = 0; r < MRe; ++r)
      std::memcpy(t.c + r * t.ldc, &edge[r * NRe], sizeof(float) * static_cast<std::size_t>(t.ncols));
  } else {
    unroll<MRe>([&](auto r) {
      unroll<NVe>([&](auto v) { acc[r][v].store_unaligned(t.c + r * t.ldc + v * VW); });
    });
  }
}

// Dot-product tiles: C(i, j) += sum_k A(i, k) B(j, k), A and B row-major with k contiguous.
#ifndef SCRATCHCNN_GEMM_DOT_RM
#define SCRATCHCNN_GEMM_DOT_RM (VW >= 16 ? 4 : 2)
#endif
#ifndef SCRATCHCNN_GEMM_DOT_RN
#define SCRATCHCNN_GEMM_DOT_RN (VW >= 16 ? 6 : 4)
#endif
constexpr int DRM = SCRATCHCNN_GEMM_DOT_RM;
constexpr int DRN = SCRATCHCNN_GEMM_DOT_RN;
constexpr int kDotMinK = 1024;
// Per chunk of kDotKC k, a block of kDotNB rows of B is swept by every DRM-row tile of A: the B
// block (and all of A's chunk) stay in L2. The block bounds how many rows alias in the cache sets
// when ldb is a large multiple of 4 KiB (as with im2col columns: ldb = pixels x batch).
constexpr int kDotKC = 512;
constexpr int kDotNB = 8 * DRN;

struct DotTile {
  const float* a;
  std::ptrdiff_t lda;
  const float* b;
  std::ptrdiff_t ldb;
  float* c;
  std::ptrdiff_t ldc;
  int kc;  // multiple of VW
  bool load_c;
};

template <int RMe, int RNe>
void dot_kernel(const DotTile& t) {
  std::array<std::array<batch, RNe>, RMe> acc;
  unroll<RMe>([&](auto r) { unroll<RNe>([&](auto n) { acc[r][n] = batch(0.0f); }); });
  for (int k = 0; k < t.kc; k += VW) {
    std::array<batch, RMe> av;
    unroll<RMe>([&](auto r) { av[r] = batch::load_unaligned(t.a + r * t.lda + k); });
    unroll<RNe>([&](auto n) {
      const batch bv = batch::load_unaligned(t.b + n * t.ldb + k);
      unroll<RMe>([&](auto r) { acc[r][n] = detail::fmadd(av[r], bv, acc[r][n]); });
    });
  }
  unroll<RMe>([&](auto r) {
    unroll<RNe>([&](auto n) {
      float& c = t.c[r * t.ldc + n];
      const float s = detail::hsum(acc[r][n]);
      c = t.load_c ? c + s : s;
    });
  });
}

using DotFn = void (*)(const DotTile&);
struct DotTable {
  DotFn fn[DRM][DRN];
};
constexpr DotTable make_dot_kernels() {
  DotTable dt{};
  unroll<DRM>([&](auto r) { unroll<DRN>([&](auto n) { dt.fn[r][n] = &dot_kernel<r + 1, n + 1>; }); });
  return dt;
}
constexpr DotTable kDotKernels = make_dot_kernels();

using KernelFn = void (*)(const Tile&);

// kernels[apacked][MRe - 1][NVe - 1]
struct KernelTable {
  KernelFn fn[2][MR][NV];
};

template <bool APacked, int... R>
constexpr void fill_rows(KernelTable& kt, std::integer_sequence<int, R...>) {
  auto fill_row = [&kt](auto r) {
    unroll<NV>([&](auto v) { kt.fn[APacked ? 1 : 0][r][v] = &micro_kernel<r + 1, v + 1, APacked>; });
  };
  (fill_row(std::integral_constant<int, R>{}), ...);
}

constexpr KernelTable make_kernels() {
  KernelTable kt{};
  fill_rows<false>(kt, std::make_integer_sequence<int, MR>{});
  fill_rows<true>(kt, std::make_integer_sequence<int, MR>{});
  return kt;
}
constexpr KernelTable kKernels = make_kernels();

// Grow-once, 64-byte aligned scratch; one set per thread (callers run sgemm inside OpenMP loops).
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }
  float* get(std::size_t n) {
    if (n > cap_) {
      const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      void* q = std::aligned_alloc(64, bytes);
      if (!q) throw std::bad_alloc();
      std::free(p_);
      p_ = static_cast<float*>(q);
      cap_ = bytes / sizeof(float);
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  std::size_t cap_ = 0;
};

struct Buffers {
  Scratch a, b, tail, dot;
};

Buffers& buffers() {
  thread_local Buffers buf;
  return buf;
}

Scratch& dot_scratch() { return buffers().dot; }

void sgemm_dot(int M, int N, int K, const float* A, std::ptrdiff_t lda, const float* B, std::ptrdiff_t ldb, float beta,
               float* C, std::ptrdiff_t ldc) {
  const int kv = K / VW * VW;
  // The B block is copied into contiguous rows: with ldb a multiple of 4 KiB its rows would all
  // land in the same cache sets.
  float* bp = dot_scratch().get(static_cast<std::size_t>(kDotNB) * std::min(kDotKC, kv));
  for (int pc = 0; pc < kv; pc += kDotKC) {
    DotTile t{};
    t.lda = lda;
    t.ldc = ldc;
    t.kc = std::min(kDotKC, kv - pc);
    t.ldb = t.kc;
    t.load_c = beta != 0.0f || pc > 0;
    for (int jb = 0; jb < N; jb += kDotNB) {
      const int jend = std::min(N, jb + kDotNB);
      for (int j = jb; j < jend; ++j)
        std::memcpy(bp + static_cast<std::ptrdiff_t>(j - jb) * t.kc, B + j * ldb + pc,
                    sizeof(float) * static_cast<std::size_t>(t.kc));
      for (int i = 0; i < M; i += DRM) {
        const int rm = std::min(DRM, M - i);
        t.a = A + i * lda + pc;
        for (int j = jb; j < jend; j += DRN) {
          const int rn = std::min(DRN, jend - j);
          t.b = bp + static_cast<std::ptrdiff_t>(j - jb) * t.kc;
          t.c = C + i * ldc + j;
          kDotKernels.fn[rm - 1][rn - 1](t);
        }
      }
    }
  }
  if (kv < K)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        float c = C[i * ldc + j];
        for (int k = kv; k < K; ++k) c = std::fma(A[i * lda + k], B[j * ldb + k], c);
        C[i * ldc + j] = c;
      }
}

// Packs op(A)(i0 .. i0+mc, p0 .. p0+kc) into panels of MR rows: panel q starts at dst + q*MR*kc,
// element (r, k) at k * MRe + r, where MRe is the panel's row count (the last one may be short).
void pack_a(Trans ta, const float* A, std::ptrdiff_t lda, int i0, int mc, int p0, int kc, float* dst) {
  for (int ir = 0; ir < mc; ir += MR) {
    const int mre = std::min(MR, mc - ir);
    float* d = dst + static_cast<std::ptrdiff_t>(ir) * kc;
    if (ta == Trans::Yes) {
      const float* s = A + static_cast<std::ptrdiff_t>(p0) * lda + i0 + ir;
      for (int k = 0; k < kc; ++k)
        for (int r = 0; r < mre; ++r) d[k * mre + r] = s[k * lda + r];
    } else {
      const float* s = A + static_cast<std::ptrdiff_t>(i0 + ir) * lda + p0;
      for (int r = 0; r < mre; ++r)
        for (int k = 0; k < kc; ++k) d[k * mre + r] = s[r * lda + k];
    }
  }
}

// Packs one panel of op(B)(p0 .. p0+kc, j0 .. j0+nre) as kc rows of nrp = ceil(nre/VW)*VW floats,
// columns nre .. nrp-1 zero.
void pack_b_panel(Trans tb, const float* B, std::ptrdiff_t ldb, int p0, int kc, int j0, int nre, float* d) {
  const int nrp = (nre + VW - 1) / VW * VW;
  if (tb == Trans::No) {
    const float* s = B + static_cast<std::ptrdiff_t>(p0) * ldb + j0;
    if (nre == NR) {
      for (int k = 0; k < kc; ++k, s += ldb, d += NR)
        unroll<NV>([&](auto v) { batch::load_unaligned(s + v * VW).store_unaligned(d + v * VW); });
    } else {
      for (int k = 0; k < kc; ++k, s += ldb, d += nrp) {
        for (int j = 0; j < nre; ++j) d[j] = s[j];
        for (int j = nre; j < nrp; ++j) d[j] = 0.0f;
      }
    }
  } else {
    const float* s = B + static_cast<std::ptrdiff_t>(j0) * ldb + p0;
    if (nre < nrp) std::fill_n(d, static_cast<std::ptrdiff_t>(kc) * nrp, 0.0f);
    // Blocks of 16 k: each source row segment is one cache line, read once, while the panel rows
    // being written (16 x nrp floats) stay in L1.
    constexpr int KB = 16;
    int k = 0;
    for (; k + KB <= kc; k += KB) {
      float* dk = d + static_cast<std::ptrdiff_t>(k) * nrp;
      for (int j = 0; j < nre; ++j) {
        const float* sj = s + j * ldb + k;
        unroll<KB>([&](auto u) { dk[u * nrp + j] = sj[u]; });
      }
    }
    for (; k < kc; ++k)
      for (int j = 0; j < nre; ++j) d[k * nrp + j] = s[j * ldb + k];
  }
}

void scale_c(int M, int N, float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    float* row = C + static_cast<std::ptrdiff_t>(i) * ldc;
    if (beta == 0.0f)
      std::fill(row, row + N, 0.0f);
    else
      for (int j = 0; j < N; ++j) row[j] *= beta;
  }
}

}  // namespace

void sgemm(Trans ta, Trans tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (beta != 1.0f) scale_c(M, N, beta, C, ldc);
    return;
  }
  if (beta != 0.0f && beta != 1.0f) {
    scale_c(M, N, beta, C, ldc);
    beta = 1.0f;
  }

  if (ta == Trans::No && tb == Trans::Yes && K >= kDotMinK) {
    sgemm_dot(M, N, K, A, lda, B, ldb, beta, C, ldc);
    return;
  }

  const bool direct_b = tb == Trans::No && M <= SCRATCHCNN_GEMM_DIRECT_B_MAX_M;
  const bool direct_a = ta == Trans::No || N <= SCRATCHCNN_GEMM_DIRECT_A_MAX_N;
  const std::ptrdiff_t slda = lda, sldb = ldb, sldc = ldc;

  Buffers& buf = buffers();
  const int kc_max = std::min(K, KC);
  float* bp = direct_b ? nullptr : buf.b.get(static_cast<std::size_t>(kc_max) * NC);
  float* tp = direct_b ? buf.tail.get(static_cast<std::size_t>(kc_max) * NR) : nullptr;
  float* ap = direct_a ? nullptr : buf.a.get(static_cast<std::size_t>(kc_max) * std::min(M, MC));

  for (int jc = 0; jc < N; jc += NC) {
    const int nc = std::min(NC, N - jc);
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = std::min(KC, K - pc);
      const bool load_c = beta != 0.0f || pc > 0;

      // Direct B: only a ragged last panel is packed (its loads would run past the row).
      const int n_full = direct_b ? nc / VW * VW : nc;
      if (direct_b) {
        if (n_full < nc) pack_b_panel(tb, B, sldb, pc, kc, jc + n_full, nc - n_full, tp);
      } else {
        for (int jr = 0; jr < nc; jr += NR)
          pack_b_panel(tb, B, sldb, pc, kc, jc + jr, std::min(NR, nc - jr), bp + static_cast<std::ptrdiff_t>(jr) * kc);
      }

      for (int ic = 0; ic < M; ic += MC) {
        const int mc = std::min(MC, M - ic);
        if (!direct_a) pack_a(ta, A, slda, ic, mc, pc, kc, ap);

        for (int ir = 0; ir < mc; ir += MR) {
          const int mre = std::min(MR, mc - ir);
          Tile t{};
          t.kc = kc;
          t.ldc = sldc;
          t.load_c = load_c;
          if (direct_a) {
            if (ta == Trans::No) {
              t.a = A + (ic + ir) * slda + pc;
              t.ars = slda;
              t.aks = 1;
            } else {
              t.a = A + pc * slda + ic + ir;
              t.ars = 1;
              t.aks = slda;
            }
          } else {
            t.a = ap + static_cast<std::ptrdiff_t>(ir) * kc;
            t.ars = 1;
            t.aks = mre;
          }
          const auto& row_kernels = kKernels.fn[direct_a ? 0 : 1][mre - 1];
          float* crow = C + (ic + ir) * sldc + jc;

          auto run = [&](int jr, int ncols, const float* b, std::ptrdiff_t bks) {
            t.b = b;
            t.bks = bks;
            t.c = crow + jr;
            t.ncols = ncols;
            row_kernels[(ncols + VW - 1) / VW - 1](t);
          };
          if (direct_b) {
            for (int jr = 0; jr < n_full; jr += NR)
              run(jr, std::min(NR, n_full - jr), B + pc * sldb + jc + jr, sldb);
            if (n_full < nc) run(n_full, nc - n_full, tp, VW);
          } else {
            for (int jr = 0; jr < nc; jr += NR) {
              const int nre = std::min(NR, nc - jr);
              run(jr, nre, bp + static_cast<std::ptrdiff_t>(jr) * kc, (nre + VW - 1) / VW * VW);
            }
          }
        }
      }
    }
  }
}

bool fused_fma() {
  // x = 1 + 2^-12: x*x = 1 + 2^-11 + 2^-24 needs 25 bits, so only a fused multiply-add keeps 2^-24.
  const batch x(1.0f + 0x1p-12f);
  const batch r = detail::fmadd(x, x, batch(-(1.0f + 0x1p-11f)));
  return r.get(0) != 0.0f;
}

}  // namespace scratchcnn::fast::SCRATCHCNN_ISA_NS
