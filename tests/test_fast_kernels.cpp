// The direct convolution ops with a virtual zero border (inputs read in place) against the
// same ops on zero-padded copies: the same bits, on random reals, for every pass. The
// network uses the in-place form only for activations larger than L2, so the parity tests reach
// it only at the 32 -> 64 shape; here it runs on small, awkward shapes (padding wider than the
// kernel, images smaller than the kernel, no padding).
#include <cstddef>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compare.hpp"
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

using test::expect_equal_values;

// One case's data: random weights, biases, input and output gradient (one chunk of samples), and
// the input zero-padded by pad.
struct KernelData {
  ConvCase c;
  int oh = 0, ow = 0, hp = 0, wp = 0;
  std::size_t in_n = 0, out_n = 0;
  std::vector<float> w{}, bias{};
  AlignedBuffer in{}, g{}, padded{};
};

KernelData kernel_data(Rng& rng, const ConvCase& c) {
  KernelData d{.c = c, .oh = c.h + 2 * c.pad - c.k + 1, .ow = c.w + 2 * c.pad - c.k + 1,
               .hp = c.h + 2 * c.pad, .wp = c.w + 2 * c.pad};
  d.w.resize(std::size_t(c.cout) * c.cin * c.k * c.k);
  d.bias.resize(std::size_t(c.cout));
  for (float& v : d.w) v = float(rng.uniform() - 0.5);
  for (float& v : d.bias) v = float(rng.uniform() - 0.5);
  d.in_n = std::size_t(c.cin) * c.h * c.w * kChunk;
  d.out_n = std::size_t(c.cout) * d.oh * d.ow * kChunk;
  d.in = random_chunk(rng, d.in_n);
  d.g = random_chunk(rng, d.out_n);
  d.padded = AlignedBuffer(std::size_t(c.cin) * d.hp * d.wp * kChunk);
  ops::pad_copy(d.in.data(), c.cin, c.h, c.w, c.pad, d.padded.data());
  return d;
}

void expect_forward_same(KernelData& d) {
  const ConvCase& c = d.c;
  const int k = c.k;
  ops::Correlation fv{.out_ch = c.cout, .in_ch = c.cin, .k = k, .out_h = d.oh, .out_w = d.ow,
                      .in_h = c.h, .in_w = c.w, .offset = -c.pad, .w = d.w.data(),
                      .w_out = std::ptrdiff_t(c.cin) * k * k, .w_in = std::ptrdiff_t(k) * k,
                      .w_ky = k, .w_kx = 1};
  ops::Correlation fp = fv;
  fp.in_h = d.hp;
  fp.in_w = d.wp;
  fp.offset = 0;
  ops::plan_correlation(fv);
  ops::plan_correlation(fp);
  AlignedBuffer tile(ops::correlate_scratch(fv) + 1), out_v(d.out_n), out_p(d.out_n);
  ops::correlate(fv, d.in.data(), d.bias.data(), true, out_v.data(), tile.data());
  ops::correlate(fp, d.padded.data(), d.bias.data(), true, out_p.data(), nullptr);
  expect_equal_values(out_v.data(), out_p.data(), d.out_n, "forward");
}

// Backward-data: the output gradient zero-extended by k - 1, the weights rotated.
void expect_backward_data_same(KernelData& d) {
  const ConvCase& c = d.c;
  const int k = c.k, gh = d.oh + 2 * (k - 1), gw = d.ow + 2 * (k - 1);
  ops::Correlation bv{.out_ch = c.cin, .in_ch = c.cout, .k = k, .out_h = c.h, .out_w = c.w,
                      .in_h = d.oh, .in_w = d.ow, .offset = c.pad - (k - 1),
                      .w = d.w.data() + (k - 1) * k + (k - 1), .w_out = std::ptrdiff_t(k) * k,
                      .w_in = std::ptrdiff_t(c.cin) * k * k, .w_ky = -k, .w_kx = -1};
  ops::Correlation bp = bv;
  bp.in_h = gh;
  bp.in_w = gw;
  bp.offset = c.pad;
  ops::plan_correlation(bv);
  ops::plan_correlation(bp);
  AlignedBuffer gpad(std::size_t(c.cout) * gh * gw * kChunk);
  ops::pad_copy(d.g.data(), c.cout, d.oh, d.ow, k - 1, gpad.data());
  AlignedBuffer btile(ops::correlate_scratch(bv) + 1), gin_v(d.in_n), gin_p(d.in_n);
  ops::correlate(bv, d.g.data(), nullptr, false, gin_v.data(), btile.data());
  ops::correlate(bp, gpad.data(), nullptr, false, gin_p.data(), nullptr);
  expect_equal_values(gin_v.data(), gin_p.data(), d.in_n, "backward-data");
}

void expect_weight_gradients_same(KernelData& d) {
  const ConvCase& c = d.c;
  std::vector<float> dw_v(d.w.size()), dw_p(d.w.size()), db_v(d.bias.size()), db_p(d.bias.size());
  ops::conv_weight_grad(c.cout, c.cin, c.k, c.pad, d.oh, d.ow, c.h, c.w, d.g.data(), d.in.data(),
                        dw_v.data(), db_v.data());
  ops::conv_weight_grad(c.cout, c.cin, c.k, 0, d.oh, d.ow, d.hp, d.wp, d.g.data(), d.padded.data(),
                        dw_p.data(), db_p.data());
  expect_equal_values(dw_v.data(), dw_p.data(), dw_v.size(), "weight gradient");
  expect_equal_values(db_v.data(), db_p.data(), db_v.size(), "bias gradient");
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
    KernelData d = kernel_data(rng, c);
    expect_forward_same(d);
    expect_backward_data_same(d);
    expect_weight_gradients_same(d);
  }
}

}  // namespace
