// Im2col convolution: im2col over tiles of output rows, then a GEMM (oracle: reference/conv.hpp).
// It runs every stride: im2col gathers the windows moved by the stride, so the GEMMs see the same
// shapes as at stride 1 with the smaller output, and the input gradient is the GEMM's columns
// scattered back onto the windows by col2im_add, in a fixed order (the same bits at every level
// and thread count); input positions no window reaches keep the zeros they start with.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fast/conv_list.hpp"
#include "fast/ops/ops.hpp"

namespace scratchcnn::fast {

using ops::Trans;

int im2col_tile_rows(int kdim, int out_h, int out_w) {
  const std::int64_t per_row = std::int64_t(kdim) * out_w * kChunk;
  return int(std::clamp<std::int64_t>(65536 / per_row, 1, out_h));
}

namespace {

// scratch: the padded input (when pad > 0), one im2col tile, and (when pad > 0) the padded input
// gradient that col2im adds into before it is cropped.
std::size_t col_floats(const ConvShape& c) {
  return std::size_t(c.cin) * c.k * c.k * c.ow * kChunk *
         im2col_tile_rows(c.cin * c.k * c.k, c.oh, c.ow);
}
std::size_t scratch_floats_of(const ConvShape& c) {
  return align_floats(c.padded_floats()) + align_floats(col_floats(c)) +
         (c.pad ? c.padded_floats() : 0);
}

class Im2colConv final : public IsaKernel {
 public:
  Im2colConv(const ops::Table& table, const LayerSpec& s, const LayerInfo& i, const float* w,
             const float* b, bool relu)
      : IsaKernel(table, s, i), c_(s, i), w_(w), bias_(b), relu_(relu) {
    kdim_ = c_.cin * c_.k * c_.k;
    tile_rows_ = im2col_tile_rows(kdim_, c_.oh, c_.ow);
  }
  std::size_t scratch_floats() const override { return scratch_floats_of(c_); }
  const char* algorithm() const override { return "im2col"; }

  void forward(const float* in, float* out, float* scratch) const override {
    const float* src = in;
    if (c_.pad) {
      k_.pad_copy(in, c_.cin, c_.h, c_.w, c_.pad, scratch);
      src = scratch;
    }
    float* col = col_buffer(scratch);
    const std::int64_t plane = c_.out_plane();
    for (int y0 = 0; y0 < c_.oh; y0 += tile_rows_) {
      const int y1 = std::min(c_.oh, y0 + tile_rows_);
      const int t = (y1 - y0) * c_.ow * kChunk;
      k_.im2col(src, c_.cin, c_.k, c_.stride, c_.hp, c_.wp, c_.ow, y0, y1, col);
      float* o = out + std::int64_t(y0) * c_.ow * kChunk;
      k_.sgemm(Trans::No, Trans::No, c_.cout, t, kdim_, w_, kdim_, col, t, 0.0f, o, int(plane));
      k_.bias_act(o, c_.cout, t, plane, bias_, relu_);
    }
  }

  void backward(const float* in, const float* out, float* g, float* gin, float* scratch, float* gw,
                float* gb) const override {
    if (relu_) k_.relu_backward(out, g, g, std::int64_t(out_floats()));
    if (gw) weight_grad(c_.pad ? scratch : in, g, col_buffer(scratch), gw, gb);
    if (gin) data_grad(g, col_buffer(scratch), gin);
  }

 private:
  float* col_buffer(float* scratch) const { return scratch + align_floats(c_.padded_floats()); }

  // src: the (padded) input of forward.
  void weight_grad(const float* src, const float* g, float* col, float* gw, float* gb) const {
    const std::int64_t plane = c_.out_plane();
    k_.channel_sums(g, c_.cout, plane, gb);
    for (int y0 = 0; y0 < c_.oh; y0 += tile_rows_) {
      const int y1 = std::min(c_.oh, y0 + tile_rows_);
      const int t = (y1 - y0) * c_.ow * kChunk;
      k_.im2col(src, c_.cin, c_.k, c_.stride, c_.hp, c_.wp, c_.ow, y0, y1, col);
      k_.sgemm(Trans::No, Trans::Yes, c_.cout, kdim_, t, g + std::int64_t(y0) * c_.ow * kChunk,
               int(plane), col, t, y0 == 0 ? 0.0f : 1.0f, gw, kdim_);
    }
  }

  void data_grad(const float* g, float* col, float* gin) const {
    const std::int64_t plane = c_.out_plane();
    float* dst = c_.pad ? col + align_floats(col_floats(c_)) : gin;
    std::memset(dst, 0, sizeof(float) * std::size_t(c_.cin) * c_.hp * c_.wp * kChunk);
    for (int y0 = 0; y0 < c_.oh; y0 += tile_rows_) {
      const int y1 = std::min(c_.oh, y0 + tile_rows_);
      const int t = (y1 - y0) * c_.ow * kChunk;
      k_.sgemm(Trans::Yes, Trans::No, kdim_, t, c_.cout, w_, kdim_,
               g + std::int64_t(y0) * c_.ow * kChunk, int(plane), 0.0f, col, t);
      k_.col2im_add(col, c_.cin, c_.k, c_.stride, c_.hp, c_.wp, c_.ow, y0, y1, dst);
    }
    if (c_.pad) k_.crop_copy(dst, c_.cin, c_.h, c_.w, c_.pad, gin);
  }

  ConvShape c_;
  const float* w_;
  const float* bias_;
  bool relu_;
  int kdim_ = 0, tile_rows_ = 1;
};

}  // namespace

std::unique_ptr<LayerKernel> make_im2col_conv(const ops::Table& table, const LayerSpec& s,
                                              const LayerInfo& i, const float* w, const float* b,
                                              bool relu) {
  return std::make_unique<Im2colConv>(table, s, i, w, b, relu);
}

std::size_t im2col_conv_scratch_floats(const ops::Table&, const LayerSpec& s, const LayerInfo& i) {
  return scratch_floats_of(ConvShape(s, i));
}

}  // namespace scratchcnn::fast
