// fast::ops::sgemm against plain triple loops: a double-precision one with a tolerance scaled by
// sum |a||b|, and float ones that the kernel must match bit for bit (small integers, where every
// sum is exact, and the documented order: one fma chain over k starting from beta * C).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compare.hpp"
#include "test_support.hpp"

#include "fast/ops/ops.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace {

using scratchcnn::fast::isa_info;
using scratchcnn::fast::ops::sgemm;
using scratchcnn::fast::ops::Trans;

// op(A) is M x K, op(B) is K x N; stored row-major with the given leading dimensions.
struct Problem {
  Trans ta, tb;
  int M, N, K;
  int lda, ldb, ldc;
  float beta;
  std::vector<float> A, B, C;  // C holds the input C (garbage when beta == 0)

  float a(int i, int k) const { return ta == Trans::No ? A[i * lda + k] : A[k * lda + i]; }
  float b(int k, int j) const { return tb == Trans::No ? B[k * ldb + j] : B[j * ldb + k]; }
};

std::string describe(const Problem& p) {
  return "ta=" + std::to_string(p.ta == Trans::Yes) + " tb=" + std::to_string(p.tb == Trans::Yes) +
         " M=" + std::to_string(p.M) + " N=" + std::to_string(p.N) + " K=" + std::to_string(p.K) +
         " lda=" + std::to_string(p.lda) + " ldb=" + std::to_string(p.ldb) + " ldc=" + std::to_string(p.ldc) +
         " beta=" + std::to_string(p.beta);
}

// Fills with uniform values in [-1, 1], or integers in [-lim, lim] when lim > 0. With beta == 0,
// C is NaN so that reading it would show.
Problem make(Trans ta, Trans tb, int M, int N, int K, int pad, float beta, std::mt19937& rng, int lim = 0) {
  Problem p{ta, tb, M, N, K, 0, 0, 0, beta, {}, {}, {}};
  p.lda = (ta == Trans::No ? K : M) + pad;
  p.ldb = (tb == Trans::No ? N : K) + pad;
  p.ldc = N + pad;
  const int arows = ta == Trans::No ? M : K;
  const int brows = tb == Trans::No ? K : N;
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int> integer(-lim, lim);
  auto draw = [&] { return lim > 0 ? static_cast<float>(integer(rng)) : real(rng); };
  p.A.resize(static_cast<std::size_t>(std::max(arows * p.lda, 1)));
  p.B.resize(static_cast<std::size_t>(std::max(brows * p.ldb, 1)));
  p.C.resize(static_cast<std::size_t>(std::max(M * p.ldc, 1)));
  for (auto& x : p.A) x = draw();
  for (auto& x : p.B) x = draw();
  for (auto& x : p.C) x = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : draw();
  return p;
}

std::vector<float> run(const Problem& p) {
  std::vector<float> c = p.C;
  sgemm(p.ta, p.tb, p.M, p.N, p.K, p.A.data(), p.lda, p.B.data(), p.ldb, p.beta, c.data(), p.ldc);
  return c;
}

// Entries outside the M x N window of C (the ldc padding) must be left alone.
void expect_padding_untouched(const Problem& p, const std::vector<float>& c) {
  for (int i = 0; i < p.M; ++i)
    for (int j = p.N; j < p.ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * p.ldc + j);
      ASSERT_EQ(std::memcmp(&c[at], &p.C[at], sizeof(float)), 0) << describe(p) << " pad i=" << i << " j=" << j;
    }
}

void check_tolerance(const Problem& p) {
  const std::vector<float> c = run(p);
  for (int i = 0; i < p.M; ++i)
    for (int j = 0; j < p.N; ++j) {
      double ref = p.beta != 0.0f ? static_cast<double>(p.beta) * p.C[i * p.ldc + j] : 0.0;
      double mag = std::fabs(ref);
      for (int k = 0; k < p.K; ++k) {
        const double prod = static_cast<double>(p.a(i, k)) * p.b(k, j);
        ref += prod;
        mag += std::fabs(prod);
      }
      const double got = c[i * p.ldc + j];
      ASSERT_LE(std::fabs(got - ref), 1e-6 * (p.K + 1) * (1.0 + mag))
          << describe(p) << " at i=" << i << " j=" << j << " got " << got << " want " << ref;
    }
  expect_padding_untouched(p, c);
}

// The documented summation order, in scalar float: c = beta * C (or +0), then c = fma(a, b, c) for
// k = 0 .. K-1 (multiply then add where the kernels have no fused multiply-add).
std::vector<float> fma_chain(const Problem& p, bool fused) {
  std::vector<float> c = p.C;
  for (int i = 0; i < p.M; ++i)
    for (int j = 0; j < p.N; ++j) {
      float s = p.beta != 0.0f ? p.beta * p.C[i * p.ldc + j] : 0.0f;
      for (int k = 0; k < p.K; ++k) {
        if (fused) {
          s = std::fma(p.a(i, k), p.b(k, j), s);
        } else {
          const float prod = p.a(i, k) * p.b(k, j);
          s = s + prod;
        }
      }
      c[i * p.ldc + j] = s;
    }
  return c;
}

// The bits of C's M x N block (row stride ldc) in `got` are those in `want`.
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const Problem& p) {
  ASSERT_EQ(got.size(), want.size());
  for (int i = 0; i < p.M; ++i) {
    const std::size_t row = static_cast<std::size_t>(i * p.ldc);
    const auto same =
        scratchcnn::test::same_bits(&want[row], &got[row], std::size_t(p.N), "want", "got");
    ASSERT_TRUE(same) << describe(p) << " row " << i;
  }
}

constexpr Trans kTrans[] = {Trans::No, Trans::Yes};
constexpr float kBetas[] = {0.0f, 1.0f};

// Sizes around the register block (MR up to 14 rows, NR up to 48 columns, 4/8/16-wide vectors).
constexpr int kSmallM[] = {1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 15, 17, 24, 25, 29, 37};
constexpr int kSmallN[] = {1, 3, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 97, 129};
constexpr int kSmallK[] = {1, 2, 7, 18, 33};

class Gemm : public scratchcnn::test::IsaTest {};
SCRATCHCNN_TEST_EVERY_ISA(Gemm);

TEST_P(Gemm, SmallShapesAllTransposesAgainstDouble) {
  std::mt19937 rng(1);
  for (Trans ta : kTrans)
    for (Trans tb : kTrans)
      for (int M : kSmallM)
        for (int N : kSmallN)
          for (int K : kSmallK) {
            const int pad = (M + N + K) % 3 == 0 ? 0 : (M * 7 + N) % 5 + 1;
            const float beta = kBetas[(M + N + K) % 2];
            check_tolerance(make(ta, tb, M, N, K, pad, beta, rng));
            if (HasFatalFailure()) return;
          }
}

// Shapes that cross the cache blocks (K blocks of 256, N blocks of 512, M blocks of ~480) and the
// in-place paths, plus the network's shapes.
struct Shape {
  int M, N, K;
};
constexpr Shape kLargeShapes[] = {
    {4, 1000, 18},  {2, 517, 9},     {6, 784, 25},    {16, 400, 150},   {64, 288, 300},
    {50, 600, 300}, {130, 70, 260},  {490, 40, 33},   {97, 1100, 530},  {128, 32, 64},
    {128, 120, 400}, {300, 520, 257}, {1, 700, 600},  {700, 1, 600},    {33, 45, 1030},
    // K >= 1024 with A as is and B transposed takes the dot-product path (backward weights).
    {2, 9, 1100},   {6, 25, 4100},   {13, 7, 2051},
};

TEST_P(Gemm, LargeShapesAgainstDouble) {
  std::mt19937 rng(2);
  for (const Shape& s : kLargeShapes)
    for (Trans ta : kTrans)
      for (Trans tb : kTrans)
        for (float beta : kBetas) {
          check_tolerance(make(ta, tb, s.M, s.N, s.K, (s.M + s.K) % 4, beta, rng));
          if (HasFatalFailure()) return;
        }
}

TEST_P(Gemm, SmallIntegersExactlyEqualTripleLoop) {
  std::mt19937 rng(3);
  const Shape shapes[] = {{1, 1, 1},     {5, 37, 18},    {13, 33, 7},  {29, 97, 65},
                          {64, 300, 288}, {37, 530, 520}, {7, 20, 1500}};
  for (const Shape& s : shapes)
    for (Trans ta : kTrans)
      for (Trans tb : kTrans)
        for (float beta : kBetas) {
          // |sum| <= 1500 * 16 + 4 < 2^24: every partial sum is exact in float, in any order.
          const Problem p = make(ta, tb, s.M, s.N, s.K, 1, beta, rng, 4);
          std::vector<float> want = p.C;
          for (int i = 0; i < p.M; ++i)
            for (int j = 0; j < p.N; ++j) {
              float acc = 0.0f;
              for (int k = 0; k < p.K; ++k) acc += p.a(i, k) * p.b(k, j);
              want[i * p.ldc + j] = p.beta != 0.0f ? p.C[i * p.ldc + j] + acc : acc;
            }
          expect_same_bits(run(p), want, p);
          if (HasFatalFailure()) return;
        }
}

// K < 1024 everywhere: the dot-product path (A as is, B transposed, K >= 1024) sums by lanes.
TEST_P(Gemm, BitsFollowTheDocumentedFmaChain) {
  std::mt19937 rng(4);
  const bool fused = isa_info().fused_fma;
  const Shape shapes[] = {{3, 17, 5}, {12, 32, 300}, {25, 65, 33}, {64, 100, 288}, {40, 530, 270}};
  for (const Shape& s : shapes)
    for (Trans ta : kTrans)
      for (Trans tb : kTrans)
        for (float beta : kBetas) {
          const Problem p = make(ta, tb, s.M, s.N, s.K, 2, beta, rng);
          expect_same_bits(run(p), fma_chain(p, fused), p);
          if (HasFatalFailure()) return;
        }
}

// The dot-product path's documented order, as a plain model that knows no vector width: per tile
// of 512 k (the last one shorter), 16 lanes, lane l an fma chain over k = l, l + 16, ... from +0,
// then the 16 lane sums s in one tree, u_i = s_i + s_(i+8), t_i = u_i + u_(i+4),
// (t_0 + t_1) + (t_2 + t_3), added to c (beta * C, or the first tile's sum alone when beta == 0);
// then the last K mod 16 terms as a scalar fma chain. `fused`: the lane chains round each product
// and sum once (false: multiply, then add).
std::vector<float> dot_model(const Problem& p, bool fused) {
  std::vector<float> c = p.C;
  const int kv = p.K / 16 * 16;
  for (int i = 0; i < p.M; ++i)
    for (int j = 0; j < p.N; ++j) {
      float cij = p.C[i * p.ldc + j];
      for (int pc = 0; pc < kv; pc += 512) {
        const int kend = std::min(kv, pc + 512);
        float s[16];
        for (int l = 0; l < 16; ++l) {
          float acc = 0.0f;
          for (int k = pc + l; k < kend; k += 16) {
            const float a = p.a(i, k), b = p.b(k, j);
            if (fused) {
              acc = std::fma(a, b, acc);
            } else {
              const float prod = a * b;
              acc = acc + prod;
            }
          }
          s[l] = acc;
        }
        float u[8], t[4];
        for (int q = 0; q < 8; ++q) u[q] = s[q] + s[q + 8];
        for (int q = 0; q < 4; ++q) t[q] = u[q] + u[q + 4];
        const float sum = (t[0] + t[1]) + (t[2] + t[3]);
        cij = (p.beta != 0.0f || pc > 0) ? cij + sum : sum;
      }
      for (int k = kv; k < p.K; ++k) cij = std::fma(p.a(i, k), p.b(k, j), cij);
      c[i * p.ldc + j] = cij;
    }
  return c;
}

// K >= 1024, A as is, B transposed: the dot-product path, pinned to the model above at every
// level (the same model, so the same bits wherever the multiply-adds are fused).
TEST_P(Gemm, DotPathBitsFollowTheDocumented16LaneOrder) {
  std::mt19937 rng(9);
  const bool fused = isa_info().fused_fma;
  const Shape shapes[] = {{1, 1, 1024}, {4, 6, 1031}, {5, 7, 2055}, {3, 13, 4096}, {9, 50, 1040}, {2, 3, 1536}};
  for (const Shape& s : shapes)
    for (float beta : kBetas) {
      const Problem p = make(Trans::No, Trans::Yes, s.M, s.N, s.K, 3, beta, rng);
      const std::vector<float> got = run(p);
      expect_same_bits(got, dot_model(p, fused), p);
      if (HasFatalFailure()) return;
      expect_padding_untouched(p, got);
      if (HasFatalFailure()) return;
    }
}

TEST_P(Gemm, KZeroWritesBetaTimesC) {
  std::mt19937 rng(5);
  for (float beta : kBetas) {
    const Problem p = make(Trans::No, Trans::No, 7, 19, 0, 2, beta, rng);
    const std::vector<float> c = run(p);
    for (int i = 0; i < p.M; ++i)
      for (int j = 0; j < p.N; ++j) {
        const float want = beta == 0.0f ? 0.0f : p.C[i * p.ldc + j];
        ASSERT_EQ(c[i * p.ldc + j], want) << "beta=" << beta << " i=" << i << " j=" << j;
      }
    expect_padding_untouched(p, c);
  }
}

TEST_P(Gemm, EmptyOutputTouchesNothing) {
  float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4}, c[4] = {5, 6, 7, 8};
  sgemm(Trans::No, Trans::No, 0, 2, 2, a, 2, b, 2, 0.0f, c, 2);
  sgemm(Trans::No, Trans::No, 2, 0, 2, a, 2, b, 1, 0.0f, c, 1);
  EXPECT_EQ(c[0], 5.0f);
  EXPECT_EQ(c[3], 8.0f);
}

TEST_P(Gemm, RepeatedAndConcurrentCallsGiveIdenticalBits) {
  std::mt19937 rng(6);
  const Problem problems[] = {make(Trans::No, Trans::Yes, 70, 530, 300, 3, 1.0f, rng),
                              make(Trans::No, Trans::Yes, 9, 30, 3000, 1, 0.0f, rng)};
  for (const Problem& p : problems) {
    const std::vector<float> first = run(p);
    expect_same_bits(run(p), first, p);
    constexpr int kCopies = 6;
    std::vector<std::vector<float>> out(kCopies);
#pragma omp parallel for schedule(static, 1)
    for (int t = 0; t < kCopies; ++t) out[static_cast<std::size_t>(t)] = run(p);
    for (const auto& c : out) expect_same_bits(c, first, p);
  }
}

TEST_P(Gemm, ReportsAnInstructionSet) {
  const std::string isa = scratchcnn::fast::active_isa();
  EXPECT_FALSE(isa.empty());
}

}  // namespace
