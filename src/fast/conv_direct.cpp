// Direct convolution: the correlate op, register-blocked and vectorised across the samples of a
// chunk (oracle: reference/conv.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fast/conv_list.hpp"
#include "fast/ops/ops.hpp"

namespace scratchcnn::fast {
namespace {

// How a direct convolution runs at one shape, and the scratch it needs: computed from the shapes
// alone (w may be null), so that memory estimates (fast::footprint) see the same sizes as a kernel.
struct DirectPlan {
  bool in_place_in = true, in_place_g = true;
  ops::Correlation fwd, bwd;
  std::size_t padded_in = 0, padded_g = 0, tile = 0;

  DirectPlan(const ops::Table& k_, const ConvShape& c_, const float* w) {
    const int k = c_.k;
    in_place_in = !c_.pad || k_.border_in_place(std::size_t(c_.cin) * c_.h * c_.w * kChunk);
    fwd = {.out_ch = c_.cout, .in_ch = c_.cin, .k = k, .out_h = c_.oh, .out_w = c_.ow,
           .in_h = c_.hp, .in_w = c_.wp, .offset = 0, .w = w,
           .w_out = std::ptrdiff_t(c_.cin) * k * k, .w_in = std::ptrdiff_t(k) * k, .w_ky = k,
           .w_kx = 1};
    if (in_place_in) {
      fwd.in_h = c_.h;
      fwd.in_w = c_.w;
      fwd.offset = -c_.pad;
    } else {
      fwd.data_y0 = fwd.data_x0 = c_.pad;  // the padded copy's zero border
      fwd.data_y1 = c_.pad + c_.h;
      fwd.data_x1 = c_.pad + c_.w;
    }
    k_.plan_correlation(fwd);
    // Input gradient = the output gradient, zero-extended by k - 1 on every side, correlated with
    // the weights transposed (in <-> out) and rotated by 180 degrees, from offset pad.
    in_place_g = k == 1 || k_.border_in_place(std::size_t(c_.cout) * c_.oh * c_.ow * kChunk);
    const int gh = c_.oh + 2 * (k - 1), gw = c_.ow + 2 * (k - 1);
    bwd = {.out_ch = c_.cin, .in_ch = c_.cout, .k = k, .out_h = c_.h, .out_w = c_.w, .in_h = gh,
           .in_w = gw, .offset = c_.pad, .w = w ? w + (k - 1) * k + (k - 1) : nullptr,
           .w_out = std::ptrdiff_t(k) * k, .w_in = std::ptrdiff_t(c_.cin) * k * k, .w_ky = -k,
           .w_kx = -1};
    if (in_place_g) {
      bwd.in_h = c_.oh;
      bwd.in_w = c_.ow;
      bwd.offset = c_.pad - (k - 1);
    } else {
      bwd.data_y0 = bwd.data_x0 = k - 1;  // the zero-extended gradient's zero border
      bwd.data_y1 = k - 1 + c_.oh;
      bwd.data_x1 = k - 1 + c_.ow;
    }
    k_.plan_correlation(bwd);
    padded_in = in_place_in ? 0 : align_floats(c_.padded_floats());
    padded_g = in_place_g ? 0 : align_floats(std::size_t(c_.cout) * gh * gw * kChunk);
    tile = std::max(in_place_in ? k_.correlate_scratch(fwd) : 0,
                    in_place_g ? k_.correlate_scratch(bwd) : 0);
  }
  std::size_t scratch_floats() const { return padded_in + padded_g + tile; }
};

// The padding is either a zero-padded copy of the activation in scratch or, for activations
// larger than L2 (ops::border_in_place), a virtual zero border that correlate and
// conv_weight_grad read in place. Both give the same bits.
class DirectConv final : public IsaKernel {
 public:
  DirectConv(const ops::Table& table, const LayerSpec& s, const LayerInfo& i, const float* w,
             const float* b, bool relu)
      : IsaKernel(table, s, i), c_(s, i), p_(table, c_, w), bias_(b), relu_(relu) {}
  std::size_t scratch_floats() const override { return p_.scratch_floats(); }
  const char* algorithm() const override { return "direct"; }

  void forward(const float* in, float* out, float* scratch) const override {
    const float* src = in;
    if (!p_.in_place_in) {
      k_.pad_copy(in, c_.cin, c_.h, c_.w, c_.pad, scratch);
      src = scratch;
    }
    k_.correlate(p_.fwd, src, bias_, relu_, out, tile(scratch));
  }

  void backward(const float* in, const float* out, float* g, float* gin, float* scratch, float* gw,
                float* gb) const override {
    if (relu_) k_.relu_backward(out, g, g, std::int64_t(out_floats()));
    if (gw) {
      // The padded copy of the input, when there is one, is still in scratch from forward.
      if (p_.in_place_in)
        k_.conv_weight_grad(c_.cout, c_.cin, c_.k, c_.pad, c_.oh, c_.ow, c_.h, c_.w, g, in, gw,
                            gb);
      else
        k_.conv_weight_grad(c_.cout, c_.cin, c_.k, 0, c_.oh, c_.ow, c_.hp, c_.wp, g, scratch, gw,
                            gb);
    }
    if (gin) {
      const float* src = g;
      if (!p_.in_place_g) {
        float* gpad = scratch + p_.padded_in;
        k_.pad_copy(g, c_.cout, c_.oh, c_.ow, c_.k - 1, gpad);
        src = gpad;
      }
      k_.correlate(p_.bwd, src, nullptr, false, gin, tile(scratch));
    }
  }

 private:
  // scratch: padded input (padded_in floats), padded gradient (padded_g), one window (tile).
  float* tile(float* scratch) const { return scratch + p_.padded_in + p_.padded_g; }

  ConvShape c_;
  DirectPlan p_;
  const float* bias_;
  bool relu_;
};

}  // namespace

std::unique_ptr<LayerKernel> make_direct_conv(const ops::Table& table, const LayerSpec& s,
                                              const LayerInfo& i, const float* w, const float* b,
                                              bool relu) {
  return std::make_unique<DirectConv>(table, s, i, w, b, relu);
}

std::size_t direct_conv_scratch_floats(const ops::Table& table, const LayerSpec& s,
                                       const LayerInfo& i) {
  return DirectPlan(table, ConvShape(s, i), nullptr).scratch_floats();
}

}  // namespace scratchcnn::fast
