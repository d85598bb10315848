// The direct convolution ops with a virtual zero border (inputs read in place) against the
// same ops on zero-padded copies: the same bits, on random reals, for every pass. The
// network uses the in-place form only for activations larger than L2, so the parity tests reach
// it only at the 32 -> 64 shape; here it runs on small, awkward shapes (padding wider than the
// kernel, images smaller than the kernel, no padding).
#include <cstddef>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

#include "fast/ops/ops.hpp"
#include "fast/layout.hpp"
#include "scratchcnn/rng.hpp"

namespace {

using namespace scratchcnn;
using namespace scratchcnn::fast;

struct ConvCase {
  int cin, cout, k, pad, h, w;
};

std::string name(const ConvCase& c) {
  return std::to_string(c.cin) + "->" + std::to_string(c.cout) + " k" + std::to_string(c.k) +
         " pad" + std::to_string(c.pad) + " " + std::to_string(c.h) + "x" + std::to_string(c.w);
}

AlignedBuffer random_chunk(Rng& rng, std::size_t n) {
  AlignedBuffer b(n);
  for (std::size_t i = 0; i < n; ++i) b.data()[i] = float(2.0 * rng.uniform() - 1.0);
  return b;
}

void expect_same_bits(const float* a, const float* b, std::size_t n, const std::string& what) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!(a[i] == b[i])) ++bad;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << n << " differ";
}

class FastKernels : public scratchcnn::test::IsaTest {};
SCRATCHCNN_TEST_EVERY_ISA(FastKernels);

TEST_P(FastKernels, VirtualBorderGivesTheBitsOfAPaddedCopy) {
  const std::vector<ConvCase> cases = {
      {2, 3, 5, 4, 3, 2}, {3, 2, 3, 3, 7, 5}, {3, 4, 3, 1, 7, 5}, {2, 3, 5, 2, 9, 6},
      {1, 2, 3, 1, 8, 8}, {4, 5, 3, 0, 6, 6}, {3, 7, 1, 1, 4, 5}, {5, 4, 3, 1, 12, 30},
  };
  Rng rng(17);
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(name(c));
    const int k = c.k, oh = c.h + 2 * c.pad - k + 1, ow = c.w + 2 * c.pad - k + 1;
    const int hp = c.h + 2 * c.pad, wp = c.w + 2 * c.pad;
    std::vector<float> w(std::size_t(c.cout) * c.cin * k * k), bias(std::size_t(c.cout));
    for (float& v : w) v = float(rng.uniform() - 0.5);
    for (float& v : bias) v = float(rng.uniform() - 0.5);
    const std::size_t in_n = std::size_t(c.cin) * c.h * c.w * kChunk;
    const std::size_t out_n = std::size_t(c.cout) * oh * ow * kChunk;
    AlignedBuffer in = random_chunk(rng, in_n), g = random_chunk(rng, out_n);

    // Forward.
    ops::Correlation fv{.out_ch = c.cout, .in_ch = c.cin, .k = k, .out_h = oh, .out_w = ow,
                        .in_h = c.h, .in_w = c.w, .offset = -c.pad, .w = w.data(),
                        .w_out = std::ptrdiff_t(c.cin) * k * k, .w_in = std::ptrdiff_t(k) * k,
                        .w_ky = k, .w_kx = 1};
    ops::Correlation fp = fv;
    fp.in_h = hp;
    fp.in_w = wp;
    fp.offset = 0;
    ops::plan_correlation(fv);
    ops::plan_correlation(fp);
    AlignedBuffer padded(std::size_t(c.cin) * hp * wp * kChunk);
    ops::pad_copy(in.data(), c.cin, c.h, c.w, c.pad, padded.data());
    AlignedBuffer tile(ops::correlate_scratch(fv) + 1), out_v(out_n), out_p(out_n);
    ops::correlate(fv, in.data(), bias.data(), true, out_v.data(), tile.data());
    ops::correlate(fp, padded.data(), bias.data(), true, out_p.data(), nullptr);
    expect_same_bits(out_v.data(), out_p.data(), out_n, "forward");

    // Backward-data: the output gradient zero-extended by k - 1, the weights rotated.
    const int gh = oh + 2 * (k - 1), gw = ow + 2 * (k - 1);
    ops::Correlation bv{.out_ch = c.cin, .in_ch = c.cout, .k = k, .out_h = c.h, .out_w = c.w,
                        .in_h = oh, .in_w = ow, .offset = c.pad - (k - 1),
                        .w = w.data() + (k - 1) * k + (k - 1), .w_out = std::ptrdiff_t(k) * k,
                        .w_in = std::ptrdiff_t(c.cin) * k * k, .w_ky = -k, .w_kx = -1};
    ops::Correlation bp = bv;
    bp.in_h = gh;
    bp.in_w = gw;
    bp.offset = c.pad;
    ops::plan_correlation(bv);
    ops::plan_correlation(bp);
    AlignedBuffer gpad(std::size_t(c.cout) * gh * gw * kChunk);
    ops::pad_copy(g.data(), c.cout, oh, ow, k - 1, gpad.data());
    AlignedBuffer btile(ops::correlate_scratch(bv) + 1), gin_v(in_n), gin_p(in_n);
    ops::correlate(bv, g.data(), nullptr, false, gin_v.data(), btile.data());
    ops::correlate(bp, gpad.data(), nullptr, false, gin_p.data(), nullptr);
    expect_same_bits(gin_v.data(), gin_p.data(), in_n, "backward-data");

    // Backward-weights.
    std::vector<float> dw_v(w.size()), dw_p(w.size()), db_v(bias.size()), db_p(bias.size());
    ops::conv_weight_grad(c.cout, c.cin, k, c.pad, oh, ow, c.h, c.w, g.data(), in.data(),
                              dw_v.data(), db_v.data());
    ops::conv_weight_grad(c.cout, c.cin, k, 0, oh, ow, hp, wp, g.data(), padded.data(),
                              dw_p.data(), db_p.data());
    expect_same_bits(dw_v.data(), dw_p.data(), dw_v.size(), "weight gradient");
    expect_same_bits(db_v.data(), db_p.data(), db_v.size(), "bias gradient");
  }
}

}  // namespace
