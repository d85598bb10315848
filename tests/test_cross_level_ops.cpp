// The reductions whose order once followed the vector width give the same bits at every level
// that fuses its multiply-adds (avx512f, avx2): the sgemm dot-product path (op(A) = A,
// op(B) = B^T, K >= 1024: the im2col convolution's weight gradient), conv_weight_grad and
// channel_sums all sum a chunk of 16 lanes in one tree (hsum_chunk). sse4.2 shares the order and
// differs only by rounding each product: with inputs whose products are exact (12-bit
// significands) it gives the same bits too, and channel_sums (no products) does on any input.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compare.hpp"
#include "test_support.hpp"

#include "fast/ops/ops.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace {

namespace fast = scratchcnn::fast;
namespace ops = scratchcnn::fast::ops;

// 64-byte aligned floats (the per-level ops load whole registers from aligned addresses).
class Floats {
 public:
  explicit Floats(std::size_t n)
      : n_(n), p_(static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64))) {
    for (std::size_t i = 0; i < n_; ++i) p_.get()[i] = 0.0f;
  }
  float* data() const { return p_.get(); }
  std::size_t size() const { return n_; }
  float& operator[](std::size_t i) { return p_.get()[i]; }
  std::vector<float> copy() const { return std::vector<float>(p_.get(), p_.get() + n_); }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::size_t n_;
  std::unique_ptr<float, Free> p_;
};

// Uniform reals in [-1, 1), or (exact) numbers m * 2^-e with |m| < 2^12 and e in [0, 14]: the
// product of two of them fits a float's 24-bit significand, so a fused and an unfused multiply-add
// round alike, while their sums still round.
float draw(std::mt19937& rng, bool exact) {
  if (!exact) return std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
  const int m = std::uniform_int_distribution<int>(-4095, 4095)(rng);
  const int e = std::uniform_int_distribution<int>(0, 14)(rng);
  return std::ldexp(static_cast<float>(m), -e);
}

// The levels to compare: every supported one that fuses its multiply-adds, or every supported one.
std::vector<std::string> levels(bool with_unfused) {
  const std::string previous = fast::active_isa();
  std::vector<std::string> out;
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    if (with_unfused || fast::isa_info().fused_fma) out.push_back(level);
  }
  fast::set_isa(previous);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

// Runs `compute` at each level and expects the bits of every result to equal the first level's.
void expect_same_bits_at(const std::vector<std::string>& lv, const std::string& what,
                         const std::function<std::vector<float>()>& compute) {
  const std::string previous = fast::active_isa();
  std::vector<float> first;
  for (std::size_t l = 0; l < lv.size(); ++l) {
    fast::set_isa(lv[l]);
    const std::vector<float> got = compute();
    if (l == 0) {
      first = got;
      continue;
    }
    const auto same = scratchcnn::test::same_bits(first, got, lv[0], lv[l]);
    if (!same) {
      fast::set_isa(previous);
      FAIL() << what << ": " << same.message();
    }
  }
  fast::set_isa(previous);
}

#define SKIP_UNLESS_TWO(lv) \
  if ((lv).size() < 2) GTEST_SKIP() << "needs two levels to compare; this CPU runs: " << joined(lv)

// C = A B^T (+ C) with K >= 1024: the dot-product path. M and N around the blocks (4 x 6 at
// avx512f, 2 x 3 at avx2, 1 x 3 at sse4.2; 8 block columns of B per cache tile), K with and
// without a tail (K mod 16), one and several 512-deep tiles.
void dot_path_cases(const std::vector<std::string>& lv, bool exact) {
  std::mt19937 rng(exact ? 21 : 20);
  const int Ks[] = {1024, 1031, 2055, 4096};
  const int Ms[] = {1, 2, 3, 4, 5, 7};
  const int Ns[] = {1, 2, 3, 4, 6, 7, 13, 49};
  for (int K : Ks)
    for (int M : Ms)
      for (int N : Ns)
        for (float beta : {0.0f, 1.0f}) {
          if (K == 4096 && M * N > 60) continue;
          const int lda = K + 3, ldb = K + 5, ldc = N + 1;
          std::vector<float> A(static_cast<std::size_t>(M) * lda),
              B(static_cast<std::size_t>(N) * ldb), C(static_cast<std::size_t>(M) * ldc);
          for (auto& x : A) x = draw(rng, exact);
          for (auto& x : B) x = draw(rng, exact);
          for (auto& x : C) x = draw(rng, exact);
          const std::string what = "sgemm NT M=" + std::to_string(M) + " N=" + std::to_string(N) +
                                   " K=" + std::to_string(K) + " beta=" + std::to_string(beta);
          expect_same_bits_at(lv, what, [&] {
            std::vector<float> c = C;
            ops::sgemm(ops::Trans::No, ops::Trans::Yes, M, N, K, A.data(), lda, B.data(), ldb, beta,
                       c.data(), ldc);
            return c;
          });
          if (testing::Test::HasFatalFailure()) return;
        }
}

TEST(CrossLevelOps, DotPathSameBitsAtEveryFmaLevel) {
  const auto lv = levels(false);
  SKIP_UNLESS_TWO(lv);
  dot_path_cases(lv, false);
}

TEST(CrossLevelOps, DotPathSameBitsAtEveryLevelWhenProductsAreExact) {
  const auto lv = levels(true);
  SKIP_UNLESS_TWO(lv);
  dot_path_cases(lv, true);
}

struct ConvCase {
  int out_ch, in_ch, k, pad, in_h, in_w;
};

void conv_weight_grad_cases(const std::vector<std::string>& lv, bool exact) {
  std::mt19937 rng(exact ? 31 : 30);
  const ConvCase cases[] = {{5, 3, 3, 1, 9, 7},
                            {17, 2, 5, 2, 8, 8},
                            {4, 4, 1, 0, 6, 5},
                            {3, 2, 7, 0, 12, 11},
                            {9, 5, 3, 0, 10, 13}};
  for (const ConvCase& c : cases) {
    const int oh = c.in_h + 2 * c.pad - c.k + 1, ow = c.in_w + 2 * c.pad - c.k + 1;
    Floats g(static_cast<std::size_t>(c.out_ch) * oh * ow * 16),
        in(static_cast<std::size_t>(c.in_ch) * c.in_h * c.in_w * 16);
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = draw(rng, exact);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = draw(rng, exact);
    const std::string what = "conv_weight_grad out_ch=" + std::to_string(c.out_ch) +
                             " in_ch=" + std::to_string(c.in_ch) + " k=" + std::to_string(c.k) +
                             " pad=" + std::to_string(c.pad);
    expect_same_bits_at(lv, what, [&] {
      Floats dw(static_cast<std::size_t>(c.out_ch) * c.in_ch * c.k * c.k),
          db(static_cast<std::size_t>(c.out_ch));
      ops::conv_weight_grad(c.out_ch, c.in_ch, c.k, c.pad, oh, ow, c.in_h, c.in_w, g.data(),
                            in.data(), dw.data(), db.data());
      std::vector<float> out = dw.copy();
      const std::vector<float> b = db.copy();
      out.insert(out.end(), b.begin(), b.end());
      return out;
    });
    if (testing::Test::HasFatalFailure()) return;
  }
}

TEST(CrossLevelOps, ConvWeightGradSameBitsAtEveryFmaLevel) {
  const auto lv = levels(false);
  SKIP_UNLESS_TWO(lv);
  conv_weight_grad_cases(lv, false);
}

TEST(CrossLevelOps, ConvWeightGradSameBitsAtEveryLevelWhenProductsAreExact) {
  const auto lv = levels(true);
  SKIP_UNLESS_TWO(lv);
  conv_weight_grad_cases(lv, true);
}

// Only additions: the same bits at every level, sse4.2 included, on any input.
TEST(CrossLevelOps, ChannelSumsSameBitsAtEveryLevel) {
  const auto lv = levels(true);
  SKIP_UNLESS_TWO(lv);
  std::mt19937 rng(40);
  for (int positions : {1, 2, 37, 300}) {
    const int channels = 5;
    const std::int64_t plane = 16 * positions;
    Floats g(static_cast<std::size_t>(channels * plane));
    for (std::size_t i = 0; i < g.size(); ++i)
      g[i] = draw(rng, false) * std::ldexp(1.0f, static_cast<int>(i % 23) - 11);
    expect_same_bits_at(lv, "channel_sums positions=" + std::to_string(positions), [&] {
      Floats db(channels);
      ops::channel_sums(g.data(), channels, plane, db.data());
      return db.copy();
    });
    if (HasFatalFailure()) return;
  }
}

}  // namespace
