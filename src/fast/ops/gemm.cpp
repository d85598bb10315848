// Single-threaded SGEMM (op_list.def: sgemm): packed panels, cache tiles and an MR x NR block
// kernel (registers run along N, A is broadcast).
//
// Summation convention (pinned by tests/test_gemm.cpp): every element of C is one sequential
// multiply-add chain over k = 0, 1, ..., K-1, started from beta * C (beta == 0: from +0), each step
// c = fma(a_ik, b_kj, c). Tiling over K stores and reloads the partial sum in float, which is
// exact, so the bits depend neither on the tile sizes nor on which path (packed or direct) a
// shape takes: only on the inputs.
//
// One exception, for op(A) = A, op(B) = B^T with K >= kDotMinK (the backward-weights shapes of a
// convolution: small M and N, K = pixels x V): both operands are then contiguous along k, and
// dot products are far cheaper than transposing B into panels. There each element is
//   c = beta * C;  for each tile of kDotKC k:  c += hsum_chunk(lane sums)
// with 16 lanes at every level (kChunk floats: one register at avx512f, two at avx2, four at
// sse4.2): lane l of a tile sums k = l, l + 16, ... with fma in k order, hsum_chunk is the one
// fixed tree over the 16 lanes (simd.hpp), and the last K mod 16 terms follow as a scalar fma
// chain. A function of the inputs and the shape only, not of the vector width.
#include "simd.hpp"  // first: see there

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {
namespace {

// Block MR x NR, NR = kNrRegs registers: 14 x 32 with AVX-512 (28 accumulators, 2 B registers and
// a broadcast: 31 of 32 registers), 6 x 16 with AVX2, 4 x 8 with SSE (16 registers);
// docs/architecture.md has the measurements behind the choice.
constexpr int MR = kLanes >= 16 ? 14 : kLanes == 8 ? 6 : 4;
constexpr int kNrRegs = 2;
constexpr int NR = kNrRegs * kLanes;
// KC: depth of a packed tile (an MR x KC A micro-panel stays in L1). NC: width of the packed
// KC x NC tile of B, which stays in L2 (1 MiB per core on Zen 4) while all of A's panels pass.
constexpr int KC = 256;
constexpr int NC = (512 + NR - 1) / NR * NR;
constexpr int MC = (480 + MR - 1) / MR * MR;  // rows of A packed at once (bounds the buffer)

// B is read in place (no packing) when it is not transposed and few A panels reuse it: packing
// would cost about as much as the multiply-adds it serves.
constexpr int kDirectBMaxM = 2 * MR;
// A is read in place when it is not transposed (the kernel broadcasts from MR row streams;
// packing those rows into panels is a scalar transpose that costs more than it saves:
// docs/architecture.md), and when N is small: each A element then serves few multiply-adds.
constexpr int kDirectAMaxN = 2 * NR;

// Operands of one block.
//   A: element (r, k) at a[r * ars + k * aks]; packed panels have ars = 1, aks = Rows.
//   B: element (k, j) at b[k * bks + j]; packed panels have bks = Regs * kLanes (zero padded).
//   C: Rows x ncols at c (row stride ldc), ncols <= Regs * kLanes.
struct Block {
  const float* a;
  std::ptrdiff_t ars, aks;
  const float* b;
  std::ptrdiff_t bks;
  float* c;
  std::ptrdiff_t ldc;
  int kc;
  int ncols;
  bool load_c;  // false: start from zero (first K tile with beta == 0)
};

template <int Rows, int Regs, bool APacked>
void gemm_kernel(const Block& t) {
  constexpr int Cols = Regs * kLanes;
  std::array<std::array<V, Regs>, Rows> acc;
  const bool partial = t.ncols < Cols;
  alignas(64) float edge[Rows * Cols];  // partial blocks go through this buffer

  if (partial) {
    for (int r = 0; r < Rows; ++r)
      for (int j = 0; j < Cols; ++j)
        edge[r * Cols + j] = (t.load_c && j < t.ncols) ? t.c[r * t.ldc + j] : 0.0f;
    unroll<Rows>([&](auto r) {
      unroll<Regs>([&](auto v) { acc[r][v] = V::load_aligned(&edge[r * Cols + v * kLanes]); });
    });
  } else if (t.load_c) {
    unroll<Rows>([&](auto r) {
      unroll<Regs>([&](auto v) { acc[r][v] = V::load_unaligned(t.c + r * t.ldc + v * kLanes); });
    });
  } else {
    unroll<Rows>([&](auto r) { unroll<Regs>([&](auto v) { acc[r][v] = V(0.0f); }); });
  }

  const float* a = t.a;
  const float* b = t.b;
  if constexpr (APacked) {
    for (int k = 0; k < t.kc; ++k) {
      std::array<V, Regs> bv;
      unroll<Regs>([&](auto v) { bv[v] = V::load_unaligned(b + v * kLanes); });
      unroll<Rows>([&](auto r) {
        const V av(a[r]);
        unroll<Regs>([&](auto v) { acc[r][v] = fmadd(av, bv[v], acc[r][v]); });
      });
      a += Rows;
      b += t.bks;
    }
  } else {
    std::array<const float*, Rows> rows;
    unroll<Rows>([&](auto r) { rows[r] = a + r * t.ars; });
    for (int k = 0; k < t.kc; ++k) {
      std::array<V, Regs> bv;
      unroll<Regs>([&](auto v) { bv[v] = V::load_unaligned(b + v * kLanes); });
      const std::ptrdiff_t ko = k * t.aks;
      unroll<Rows>([&](auto r) {
        const V av(rows[r][ko]);
        unroll<Regs>([&](auto v) { acc[r][v] = fmadd(av, bv[v], acc[r][v]); });
      });
      b += t.bks;
    }
  }

  if (partial) {
    unroll<Rows>([&](auto r) {
      unroll<Regs>([&](auto v) { acc[r][v].store_aligned(&edge[r * Cols + v * kLanes]); });
    });
    for (int r = 0; r < Rows; ++r)
      std::memcpy(t.c + r * t.ldc, &edge[r * Cols], sizeof(float) * static_cast<std::size_t>(t.ncols));
  } else {
    unroll<Rows>([&](auto r) {
      unroll<Regs>([&](auto v) { acc[r][v].store_unaligned(t.c + r * t.ldc + v * kLanes); });
    });
  }
}

// Dot-product blocks: C(i, j) += sum_k A(i, k) B(j, k), A and B row-major with k contiguous.
// Every accumulator is one chunk vector (kChunkRegs registers, the 16 lanes of the order above).
// AVX-512: 4 x 6 blocks (24 accumulators, 4 A registers and one B: 29 of 32). AVX2: 2 x 3 (12
// accumulators of 2 registers; the two halves of a step run one after the other, so 2 A registers
// and one B are live: 15 of 16). SSE: 1 x 3 (12 accumulators of 4 registers, one A, one B).
constexpr int kDotRows = kLanes >= 16 ? 4 : kLanes == 8 ? 2 : 1;
constexpr int kDotCols = kLanes >= 16 ? 6 : 3;
constexpr int kDotMinK = 1024;
// Per tile of kDotKC k, kDotNB rows of B are swept by every kDotRows-row block of A: those rows
// (and all of A's tile) stay in L2. kDotNB bounds how many rows alias in the cache sets when ldb
// is a large multiple of 4 KiB (as with im2col columns: ldb = pixels x batch).
constexpr int kDotKC = 512;
static_assert(kDotKC % kChunk == 0, "tiles hold whole chunks of k at every level");
constexpr int kDotNB = 8 * kDotCols;

struct DotBlock {
  const float* a;
  std::ptrdiff_t lda;
  const float* b;
  std::ptrdiff_t ldb;
  float* c;
  std::ptrdiff_t ldc;
  int kc;  // multiple of kChunk
  bool load_c;
};

template <int Rows, int Cols>
void dot_kernel(const DotBlock& t) {
  V acc[Rows][Cols][kChunkRegs];
  unroll<Rows>([&](auto r) {
    unroll<Cols>([&](auto n) { unroll<kChunkRegs>([&](auto h) { acc[r][n][h] = V(0.0f); }); });
  });
  for (int k = 0; k < t.kc; k += kChunk) {
    // Register h of a chunk holds k + h * kLanes ...: lane l of the chunk vector is k + l.
    unroll<kChunkRegs>([&](auto h) {
      const int kh = k + h * kLanes;
      std::array<V, Rows> av;
      unroll<Rows>([&](auto r) { av[r] = V::load_unaligned(t.a + r * t.lda + kh); });
      unroll<Cols>([&](auto n) {
        const V bv = V::load_unaligned(t.b + n * t.ldb + kh);
        unroll<Rows>([&](auto r) { acc[r][n][h] = fmadd(av[r], bv, acc[r][n][h]); });
      });
    });
  }
  unroll<Rows>([&](auto r) {
    unroll<Cols>([&](auto n) {
      float& c = t.c[r * t.ldc + n];
      const float s = hsum_chunk(acc[r][n]);
      c = t.load_c ? c + s : s;
    });
  });
}

using DotKernel = void (*)(const DotBlock&);
constexpr auto kDotKernels = make_block_table<DotKernel, kDotRows, kDotCols>(
    [](auto rows, auto cols) -> DotKernel { return &dot_kernel<rows, cols>; });

using GemmKernel = void (*)(const Block&);
template <bool APacked>
constexpr auto gemm_kernels() {
  return make_block_table<GemmKernel, MR, kNrRegs>(
      [](auto rows, auto regs) -> GemmKernel { return &gemm_kernel<rows, regs, APacked>; });
}
constexpr auto kDirectAKernels = gemm_kernels<false>();
constexpr auto kPackedAKernels = gemm_kernels<true>();

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
  const int kv = K / kChunk * kChunk;
  // The kDotNB rows of B are copied to contiguous memory: with ldb a multiple of 4 KiB they would
  // all land in the same cache sets.
  float* bp = dot_scratch().get(static_cast<std::size_t>(kDotNB) * std::min(kDotKC, kv));
  for (int pc = 0; pc < kv; pc += kDotKC) {
    DotBlock t{};
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
      for (int i = 0; i < M; i += kDotRows) {
        const int rm = std::min(kDotRows, M - i);
        t.a = A + i * lda + pc;
        for (int j = jb; j < jend; j += kDotCols) {
          const int rn = std::min(kDotCols, jend - j);
          t.b = bp + static_cast<std::ptrdiff_t>(j - jb) * t.kc;
          t.c = C + i * ldc + j;
          kDotKernels(rm, rn)(t);
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
// element (r, k) at k * Rows + r, where Rows is the panel's row count (the last one may be short).
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

// Packs one panel of op(B)(p0 .. p0+kc, j0 .. j0+nre) as kc rows of nrp = ceil(nre/kLanes)*kLanes floats,
// columns nre .. nrp-1 zero.
void pack_b_panel(Trans tb, const float* B, std::ptrdiff_t ldb, int p0, int kc, int j0, int nre, float* d) {
  const int nrp = (nre + kLanes - 1) / kLanes * kLanes;
  if (tb == Trans::No) {
    const float* s = B + static_cast<std::ptrdiff_t>(p0) * ldb + j0;
    if (nre == NR) {
      for (int k = 0; k < kc; ++k, s += ldb, d += NR)
        unroll<kNrRegs>([&](auto v) { V::load_unaligned(s + v * kLanes).store_unaligned(d + v * kLanes); });
    } else {
      for (int k = 0; k < kc; ++k, s += ldb, d += nrp) {
        for (int j = 0; j < nre; ++j) d[j] = s[j];
        for (int j = nre; j < nrp; ++j) d[j] = 0.0f;
      }
    }
  } else {
    const float* s = B + static_cast<std::ptrdiff_t>(j0) * ldb + p0;
    if (nre < nrp) std::fill_n(d, static_cast<std::ptrdiff_t>(kc) * nrp, 0.0f);
    // Runs of 16 k: each source row segment is one cache line, read once, while the panel rows
    // being written (16 x nrp floats) stay in L1.
    constexpr int kRun = 16;
    int k = 0;
    for (; k + kRun <= kc; k += kRun) {
      float* dk = d + static_cast<std::ptrdiff_t>(k) * nrp;
      for (int j = 0; j < nre; ++j) {
        const float* sj = s + j * ldb + k;
        unroll<kRun>([&](auto u) { dk[u * nrp + j] = sj[u]; });
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

// One call of the packed path: the operands, which of them are read in place, and the buffers.
struct Gemm {
  Trans ta, tb;
  const float* A;
  std::ptrdiff_t lda;
  const float* B;
  std::ptrdiff_t ldb;
  float* C;
  std::ptrdiff_t ldc;
  bool direct_a, direct_b;
  float* ap;  // packed rows of A (MC x KC), unless direct_a
  float* bp;  // packed panels of B (KC x NC), unless direct_b
  float* tp;  // the packed ragged last panel of B (KC x NR), when direct_b

  // Packs the kc x nc tile of op(B) at (pc, jc) into panels; when B is read in place, only its
  // ragged last panel (whole-register loads would run past the row). Returns the columns read in
  // place.
  int pack_b(int jc, int nc, int pc, int kc) const {
    if (!direct_b) {
      for (int jr = 0; jr < nc; jr += NR)
        pack_b_panel(tb, B, ldb, pc, kc, jc + jr, std::min(NR, nc - jr),
                     bp + static_cast<std::ptrdiff_t>(jr) * kc);
      return 0;
    }
    const int n_full = nc / kLanes * kLanes;
    if (n_full < nc) pack_b_panel(tb, B, ldb, pc, kc, jc + n_full, nc - n_full, tp);
    return n_full;
  }

  // Rows [row, row + rows) of C, columns [jc, jc + nc): adds (or, without load_c, writes) the
  // product of the kc-deep tiles of op(A) and op(B) at depth pc, with B packed by pack_b.
  void multiply_rows(int row, int rows, int ir, int jc, int nc, int n_full, int pc, int kc,
                     bool load_c) const {
    Block t{};
    t.kc = kc;
    t.ldc = ldc;
    t.load_c = load_c;
    if (!direct_a) {
      t.a = ap + static_cast<std::ptrdiff_t>(ir) * kc;
      t.ars = 1;
      t.aks = rows;
    } else if (ta == Trans::No) {
      t.a = A + row * lda + pc;
      t.ars = lda;
      t.aks = 1;
    } else {
      t.a = A + pc * lda + row;
      t.ars = 1;
      t.aks = lda;
    }
    const auto& kernels = direct_a ? kDirectAKernels : kPackedAKernels;
    float* crow = C + row * ldc + jc;
    auto run = [&](int jr, int ncols, const float* b, std::ptrdiff_t bks) {
      t.b = b;
      t.bks = bks;
      t.c = crow + jr;
      t.ncols = ncols;
      kernels(rows, (ncols + kLanes - 1) / kLanes)(t);
    };
    if (direct_b) {
      for (int jr = 0; jr < n_full; jr += NR)
        run(jr, std::min(NR, n_full - jr), B + pc * ldb + jc + jr, ldb);
      if (n_full < nc) run(n_full, nc - n_full, tp, kLanes);
    } else {
      for (int jr = 0; jr < nc; jr += NR) {
        const int nre = std::min(NR, nc - jr);
        run(jr, nre, bp + static_cast<std::ptrdiff_t>(jr) * kc,
            (nre + kLanes - 1) / kLanes * kLanes);
      }
    }
  }
};

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

  Gemm g{ta, tb, A, lda, B, ldb, C, ldc, ta == Trans::No || N <= kDirectAMaxN,
         tb == Trans::No && M <= kDirectBMaxM, nullptr, nullptr, nullptr};
  Buffers& buf = buffers();
  const int kc_max = std::min(K, KC);
  if (!g.direct_a) g.ap = buf.a.get(static_cast<std::size_t>(kc_max) * std::min(M, MC));
  if (g.direct_b)
    g.tp = buf.tail.get(static_cast<std::size_t>(kc_max) * NR);
  else
    g.bp = buf.b.get(static_cast<std::size_t>(kc_max) * NC);

  for (int jc = 0; jc < N; jc += NC) {
    const int nc = std::min(NC, N - jc);
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = std::min(KC, K - pc);
      const bool load_c = beta != 0.0f || pc > 0;
      const int n_full = g.pack_b(jc, nc, pc, kc);
      for (int ic = 0; ic < M; ic += MC) {
        const int mc = std::min(MC, M - ic);
        if (!g.direct_a) pack_a(ta, A, g.lda, ic, mc, pc, kc, g.ap);
        for (int ir = 0; ir < mc; ir += MR)
          g.multiply_rows(ic + ir, std::min(MR, mc - ir), ir, jc, nc, n_full, pc, kc, load_c);
      }
    }
  }
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
