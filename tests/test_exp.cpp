// The exponential of the fast path (src/fast/ops/exp.hpp), through the ops that use it
// (sigmoid_forward, softmax_cross_entropy) and the op that exposes it (exp_forward):
//  - the same bits at every level with FMA this CPU runs, over a sweep of float bit patterns
//    (every 7th one, so every exponent and many mantissas) and the special values;
//  - within 2 ulp of e^x (computed in double) wherever e^x is a normal float;
//  - the saturation of xsimd::exp: +inf, +0 and NaN where xsimd 8.1's exp gives them.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xsimd/xsimd.hpp>

#include "compare.hpp"
#include "test_support.hpp"

#include "fast/layout.hpp"
#include "fast/ops/ops.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace {

using namespace scratchcnn;
namespace ops = scratchcnn::fast::ops;
using fast::kChunk;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Restores the level that was active when it was made.
class LevelGuard {
 public:
  LevelGuard() : previous_(fast::active_isa()) {}
  ~LevelGuard() { fast::set_isa(previous_); }
  LevelGuard(const LevelGuard&) = delete;
  LevelGuard& operator=(const LevelGuard&) = delete;

 private:
  std::string previous_;
};

// The levels this CPU runs whose multiply-adds are fused.
std::vector<std::string> fma_levels() {
  LevelGuard guard;
  std::vector<std::string> out;
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    if (fast::isa_info().fused_fma) out.push_back(level);
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

using test::bits;

std::vector<float> specials() {
  std::vector<float> v = {0.0f, -0.0f, kInf, -kInf, kNaN, -kNaN,
                          std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest(),
                          std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
                          -std::numeric_limits<float>::denorm_min(), 1.0f, -1.0f,
                          88.3762626647949f, std::nextafter(88.3762626647949f, 0.0f), 88.5f,
                          88.72284f, 89.0f, 1e30f, -88.3762626647949f,
                          std::nextafter(-88.3762626647949f, 0.0f), -87.68f, -87.3365f, -87.0f,
                          -100.0f, -1e30f, 0.5f * 0.693147182f, -0.5f * 0.693147182f};
  while (v.size() % kChunk != 0) v.push_back(0.25f);
  return v;
}

// Calls f(values, count) on blocks of floats: first the specials, then the bit patterns
// first, first + kStride, first + 2 kStride, ... below `end` (count a multiple of kChunk; the last
// block padded with zeros).
// Every 7th float bit pattern; every 679th under the sanitizers, whose job here is memory errors
// (the full sweep there would take many minutes).
constexpr std::uint64_t kStride = test::kAddressSanitizer ? 7 * 97 : 7;

template <class F>
void sweep(std::uint64_t first, std::uint64_t end, F&& f) {
  const std::vector<float> sp = specials();
  fast::AlignedBuffer buf(sp.size());
  std::memcpy(buf.data(), sp.data(), sp.size() * sizeof(float));
  f(buf.data(), static_cast<std::int64_t>(sp.size()));
  constexpr std::size_t kBlock = std::size_t(1) << 20;
  buf.reserve(kBlock);
  std::uint64_t p = first;
  while (p < end) {
    std::size_t n = 0;
    for (; n < kBlock && p < end; ++n, p += kStride) buf.data()[n] = std::bit_cast<float>(std::uint32_t(p));
    const std::size_t padded = (n + kChunk - 1) / kChunk * kChunk;
    for (std::size_t i = n; i < padded; ++i) buf.data()[i] = 0.0f;
    f(buf.data(), static_cast<std::int64_t>(padded));
  }
}

constexpr std::uint64_t kAllPatterns = std::uint64_t(1) << 32;

// Runs op(in, count, out) at every level in `levels`; expects the same out bits at each as at the
// first (reports the first mismatch per block and stops at the first block that has one).
template <class Op>
void expect_same_bits(const std::vector<std::string>& levels, std::uint64_t end,
                      std::int64_t out_per_in, Op op) {
  LevelGuard guard;
  fast::AlignedBuffer want, got;
  bool failed = false;
  sweep(0, end, [&](const float* in, std::int64_t count) {
    if (failed) return;
    const std::size_t n = static_cast<std::size_t>(count * out_per_in);
    want.reserve(n);
    got.reserve(n);
    fast::set_isa(levels[0]);
    op(in, count, want.data());
    for (std::size_t l = 1; l < levels.size() && !failed; ++l) {
      fast::set_isa(levels[l]);
      op(in, count, got.data());
      const auto same = test::same_bits(want.data(), got.data(), n, levels[0], levels[l]);
      if (!same) {
        failed = true;
        ADD_FAILURE() << "a block of inputs from " << in[0] << ": " << same.message();
      }
    }
  });
}

// sigmoid_forward divides exactly at every level: its output has the bits of the scalar
// 1.0f / (1.0f + e) with e = exp_forward(-x), one IEEE add and one IEEE division. (xsimd 8.1's
// float division on AArch64 is ARMv7's reciprocal estimate and two Newton steps, which is not
// the quotient; simd.hpp's div asks for FDIV there.)
TEST(Exp, SigmoidDividesExactlyAtEveryLevel) {
  LevelGuard guard;
  constexpr std::int64_t n = 1 << 14;
  fast::AlignedBuffer x(n), neg(n), e(n), s(n);
  for (std::int64_t i = 0; i < n; ++i) {
    x.data()[i] = -24.0f + 48.0f * static_cast<float>(i) / static_cast<float>(n) + 1e-4f;
    neg.data()[i] = -x.data()[i];
  }
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    ops::exp_forward(neg.data(), e.data(), n);
    ops::sigmoid_forward(x.data(), s.data(), n);
    int wrong = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const float want = 1.0f / (1.0f + e.data()[i]);
      if (bits(s.data()[i]) != bits(want) && wrong++ == 0)
        ADD_FAILURE() << level << ": sigmoid(" << x.data()[i] << ") = " << s.data()[i] << " (0x"
                      << std::hex << bits(s.data()[i]) << "), 1 / (1 + e^-x) = " << want
                      << " (0x" << bits(want) << ")" << std::dec;
    }
    EXPECT_EQ(wrong, 0) << level << ": outputs that are not the exact quotient";
  }
}

TEST(Exp, SigmoidForwardSameBitsAtEveryFmaLevel) {
  const std::vector<std::string> levels = fma_levels();
  if (levels.size() < 2) GTEST_SKIP() << "needs two levels with FMA; this CPU runs " << join(levels);
  expect_same_bits(levels, kAllPatterns, 1, [](const float* in, std::int64_t n, float* out) {
    ops::sigmoid_forward(in, out, n);
  });
}

TEST(Exp, ExpForwardSameBitsAtEveryFmaLevel) {
  const std::vector<std::string> levels = fma_levels();
  if (levels.size() < 2) GTEST_SKIP() << "needs two levels with FMA; this CPU runs " << join(levels);
  expect_same_bits(levels, kAllPatterns, 1, [](const float* in, std::int64_t n, float* out) {
    ops::exp_forward(in, out, n);
  });
}

// Softmax over two classes with logits (0, x) for every 7th non-negative bit pattern x (m = x
// or 0, so the exponentials are e^-|x| and 1: every argument <= 0 the softmax can meet). The
// output holds the gradients of both classes and the loss of each sample (double, as two floats'
// worth of bits).
TEST(Exp, SoftmaxSameBitsAtEveryFmaLevel) {
  const std::vector<std::string> levels = fma_levels();
  if (levels.size() < 2) GTEST_SKIP() << "needs two levels with FMA; this CPU runs " << join(levels);
  constexpr int kClasses = 2;
  constexpr std::int64_t kOut = kClasses + 2 + 1;  // grads, loss (2 floats), correct
  expect_same_bits(levels, std::uint64_t(0x80000000), kOut,
                   [](const float* in, std::int64_t n, float* out) {
    alignas(64) float logits[kClasses * kChunk];
    alignas(64) float grad[kClasses * kChunk];
    int labels[kChunk];
    double loss[kChunk];
    unsigned char correct[kChunk];
    for (std::int64_t c = 0; c < n; c += kChunk) {
      for (int s = 0; s < kChunk; ++s) {
        logits[s] = 0.0f;
        logits[kChunk + s] = in[c + s];
        labels[s] = s % kClasses;
        loss[s] = 0.0;
        correct[s] = 0;
      }
      ops::softmax_cross_entropy(logits, kClasses, labels, kChunk, grad, loss, correct);
      for (int s = 0; s < kChunk; ++s) {
        float* o = out + (c + s) * kOut;
        o[0] = grad[s];
        o[1] = grad[kChunk + s];
        std::memcpy(o + 2, &loss[s], sizeof(double));
        o[4] = std::bit_cast<float>(std::uint32_t(correct[s]));
      }
    }
  });
}

// The bits themselves, at every level with FMA, as a hash (FNV-1a over the output words of the
// sweep, NaN inputs left out): those of xsimd 8.1's exp at fma3<avx2> (its Cephes polynomial, fused), which the fast
// path used at avx2 before it had its own exp. A change to the method changes them.
constexpr std::uint64_t kExpSweepHash = 0xa928a964c40e99deu;

TEST(Exp, BitsPinnedAtEveryFmaLevel) {
  LevelGuard guard;
  const std::vector<std::string> levels = fma_levels();
  if (levels.empty()) GTEST_SKIP() << "this CPU runs no level with FMA";
  if (kStride != 7) GTEST_SKIP() << "the pinned hash is over every 7th pattern (release build)";
  fast::AlignedBuffer out;
  for (const std::string& level : levels) {
    fast::set_isa(level);
    std::uint64_t h = 0xcbf29ce484222325u;
    sweep(0, kAllPatterns, [&](const float* in, std::int64_t n) {
      out.reserve(static_cast<std::size_t>(n));
      ops::exp_forward(in, out.data(), n);
      for (std::int64_t i = 0; i < n; ++i) {
        if (std::isnan(in[i])) continue;  // SpecialValues; xsimd's NaN sign varied
        h ^= bits(out.data()[i]);
        h *= 0x100000001b3u;
      }
    });
    EXPECT_EQ(h, kExpSweepHash) << level << std::hex << ": hash 0x" << h;
  }
}

// |y - e^x| in units of the float ulp at e^x.
double ulps(float y, double exact) {
  int e = 0;
  std::frexp(exact, &e);  // exact in [2^(e-1), 2^e)
  return std::fabs(double(y) - exact) / std::ldexp(1.0, e - 1 - 23);
}

// Every level this CPU runs (sse4.2, without FMA, too): within 2 ulp where e^x is a normal float
// below the overflow cut (x in [ln FLT_MIN, 127.5 ln 2)).
TEST(Exp, WithinTwoUlpOfDoubleExp) {
  LevelGuard guard;
  const float lo = 0x1p-126f;
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    double worst = 0.0;
    float worst_x = 0.0f;
    std::uint64_t checked = 0;
    fast::AlignedBuffer out;
    sweep(0, kAllPatterns, [&](const float* in, std::int64_t n) {
      out.reserve(static_cast<std::size_t>(n));
      ops::exp_forward(in, out.data(), n);
      for (std::int64_t i = 0; i < n; ++i) {
        if (!(in[i] > -88.0f && in[i] < 88.3762626647949f)) continue;
        const double exact = std::exp(double(in[i]));
        if (exact < lo) continue;
        ++checked;
        const double u = ulps(out.data()[i], exact);
        if (!(u <= worst)) {
          worst = u;
          worst_x = in[i];
        }
      }
    });
    EXPECT_GT(checked, 700'000'000u / kStride) << level;
    EXPECT_LE(worst, 2.0) << level << ": worst at x = " << worst_x;
    std::cout << "[          ] " << level << ": worst error " << worst << " ulp at x = " << worst_x
              << " (" << checked << " inputs)\n";
  }
}

// tanh_forward, built on the same e^x: the same bits at every FMA level over the sweep.
TEST(Exp, TanhForwardSameBitsAtEveryFmaLevel) {
  const std::vector<std::string> levels = fma_levels();
  if (levels.size() < 2) GTEST_SKIP() << "needs two levels with FMA; this CPU runs " << join(levels);
  expect_same_bits(levels, kAllPatterns, 1, [](const float* in, std::int64_t n, float* out) {
    ops::tanh_forward(in, out, n);
  });
}

// Every level: within 3 ulp of tanh (computed in double) wherever tanh x is a normal float (every
// 13th input of the sweep); +-1 at +-inf, NaN for NaN.
TEST(Exp, TanhWithinThreeUlpOfDoubleTanh) {
  LevelGuard guard;
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    double worst = 0.0;
    float worst_x = 0.0f;
    std::uint64_t checked = 0;
    fast::AlignedBuffer out;
    sweep(0, kAllPatterns, [&](const float* in, std::int64_t n) {
      out.reserve(static_cast<std::size_t>(n));
      ops::tanh_forward(in, out.data(), n);
      for (std::int64_t i = 0; i < n; ++i) {
        const float x = in[i], y = out.data()[i];
        if (std::isnan(x)) {
          EXPECT_TRUE(std::isnan(y)) << level;
          continue;
        }
        if (i % 13 != 0) continue;  // every 13th of the sweep: std::tanh in double is the slow part
        const double exact = std::tanh(double(x));
        if (std::fabs(exact) < 0x1p-126) continue;
        ++checked;
        const double u = ulps(y, exact);
        if (!(u <= worst)) {
          worst = u;
          worst_x = x;
        }
      }
    });
    EXPECT_GT(checked, 2'000'000'000u / kStride / 13) << level;
    EXPECT_LE(worst, 3.0) << level << ": worst at x = " << worst_x;
    std::cout << "[          ] tanh " << level << ": worst error " << worst << " ulp at x = " << worst_x
              << " (" << checked << " inputs)\n";
    fast::AlignedBuffer ends(kChunk), got(kChunk);
    for (int i = 0; i < kChunk; ++i) ends.data()[i] = i % 2 ? -kInf : kInf;
    ops::tanh_forward(ends.data(), got.data(), kChunk);
    for (int i = 0; i < kChunk; ++i) EXPECT_EQ(got.data()[i], i % 2 ? -1.0f : 1.0f) << level;
  }
}

// +-inf, NaN, overflow and underflow at every level, as xsimd::exp (here at the build's baseline
// architecture) gives them, and the sigmoid's limits.
TEST(Exp, SpecialValues) {
  LevelGuard guard;
  const std::vector<float> in = specials();
  using B = xsimd::batch<float>;
  std::vector<float> want(in.size());
  for (std::size_t i = 0; i < in.size(); i += B::size)
    xsimd::exp(B::load_unaligned(in.data() + i)).store_unaligned(want.data() + i);
  fast::AlignedBuffer x(in.size()), y(in.size()), sig(in.size());
  std::memcpy(x.data(), in.data(), in.size() * sizeof(float));
  const std::int64_t n = static_cast<std::int64_t>(in.size());
  for (const std::string& level : fast::supported_isas()) {
    SCOPED_TRACE(level);
    fast::set_isa(level);
    ops::exp_forward(x.data(), y.data(), n);
    ops::sigmoid_forward(x.data(), sig.data(), n);
    for (std::size_t i = 0; i < in.size(); ++i) {
      const float v = in[i], e = y.data()[i];
      SCOPED_TRACE("x = " + std::to_string(v));
      EXPECT_EQ(std::fpclassify(e), std::fpclassify(want[i]));
      if (std::isnan(v)) {
        EXPECT_EQ(bits(e), bits(v) | 0x00400000u);  // the input NaN, quieted
        continue;
      }
      EXPECT_EQ(std::signbit(e), std::signbit(want[i]));
      if (std::isinf(want[i]) || want[i] == 0.0f) {
        EXPECT_EQ(bits(e), bits(want[i]));
      }
    }
    EXPECT_EQ(bits(y.data()[0]), bits(1.0f));  // e^0
    EXPECT_EQ(bits(y.data()[1]), bits(1.0f));  // e^-0
    EXPECT_EQ(bits(y.data()[2]), bits(kInf));
    EXPECT_EQ(bits(y.data()[3]), bits(0.0f));
    EXPECT_TRUE(std::isnan(y.data()[4]));
    EXPECT_TRUE(std::isnan(y.data()[5]));
    EXPECT_EQ(bits(y.data()[6]), bits(kInf));   // FLT_MAX
    EXPECT_EQ(bits(y.data()[7]), bits(0.0f));   // -FLT_MAX
    EXPECT_EQ(bits(y.data()[13]), bits(kInf));  // 127.5 ln 2
    EXPECT_EQ(bits(y.data()[19]), bits(0.0f));  // -127.5 ln 2
    EXPECT_EQ(bits(sig.data()[2]), bits(1.0f));   // sigmoid(+inf)
    EXPECT_EQ(bits(sig.data()[3]), bits(0.0f));   // sigmoid(-inf)
    EXPECT_EQ(bits(sig.data()[4]), bits(-kNaN));  // e^-x of NaN x: -x
    EXPECT_EQ(bits(sig.data()[0]), bits(0.5f));
  }
}

// Where the saturation starts, at every level: the same class (inf, zero, normal, subnormal, NaN)
// as xsimd::exp for every float in [-90, 90] (every 7th pattern).
TEST(Exp, SaturatesWhereXsimdExpDoes) {
  LevelGuard guard;
  using B = xsimd::batch<float>;
  std::vector<float> in;
  for (std::uint64_t p = 0; p < kAllPatterns; p += 7) {
    const float v = std::bit_cast<float>(std::uint32_t(p));
    if (std::fabs(v) >= 80.0f && std::fabs(v) <= 90.0f) in.push_back(v);
  }
  while (in.size() % kChunk != 0) in.push_back(0.0f);
  ASSERT_GT(in.size(), 10'000u);
  std::vector<float> want(in.size());
  for (std::size_t i = 0; i < in.size(); i += B::size)
    xsimd::exp(B::load_unaligned(in.data() + i)).store_unaligned(want.data() + i);
  fast::AlignedBuffer x(in.size()), y(in.size());
  std::memcpy(x.data(), in.data(), in.size() * sizeof(float));
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    ops::exp_forward(x.data(), y.data(), static_cast<std::int64_t>(in.size()));
    int mismatches = 0;
    for (std::size_t i = 0; i < in.size() && mismatches < 5; ++i) {
      if (std::fpclassify(y.data()[i]) != std::fpclassify(want[i])) {
        ++mismatches;
        ADD_FAILURE() << level << ": e^" << in[i] << " = " << y.data()[i] << ", xsimd::exp gives "
                      << want[i];
      }
    }
  }
}

}  // namespace
