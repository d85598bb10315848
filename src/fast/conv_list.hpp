#pragma once
// The convolution implementations of the fast path (conv_direct.cpp, conv_im2col.cpp) and the
// ordered list that chooses between them (conv_list.cpp).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fast/kernel.hpp"

namespace scratchcnn::fast {

// Shapes of one convolution, per chunk.
struct ConvShape {
  int cin, cout, k, pad, stride;
  int h, w;    // input
  int oh, ow;  // output
  int hp, wp;  // padded input
  ConvShape(const LayerSpec& s, const LayerInfo& i)
      : cin(s.in), cout(s.out), k(s.k), pad(s.pad), stride(s.conv_stride()), h(i.in.h), w(i.in.w),
        oh(i.out.h), ow(i.out.w), hp(i.in.h + 2 * s.pad), wp(i.in.w + 2 * s.pad) {}
  std::size_t padded_floats() const { return pad ? std::size_t(cin) * hp * wp * kChunk : 0; }
  std::int64_t out_plane() const { return std::int64_t(oh) * ow * kChunk; }
};

// One convolution implementation: which shapes it accepts, how to make its kernel, and the
// scratch that kernel needs (from the shapes alone).
struct ConvImpl {
  ConvAlgo algo;
  bool (*applies)(const LayerSpec& spec, const LayerInfo& info);
  const char* runs;  // what `applies` accepts, for the error when it is named but refuses
  KernelMaker make;
  std::size_t (*scratch_floats)(const ops::Table& table, const LayerSpec& spec,
                                const LayerInfo& info);
};

// The implementation of the convolution `spec` that `algo` asks for: with Auto the first of the
// list that applies, otherwise the one named (Error if it does not apply to the shape).
const ConvImpl& conv_impl(const LayerSpec& spec, const LayerInfo& info, ConvAlgo algo);

// conv_direct.cpp
std::unique_ptr<LayerKernel> make_direct_conv(const ops::Table& table, const LayerSpec& s,
                                              const LayerInfo& i, const float* w, const float* b,
                                              bool relu);
std::size_t direct_conv_scratch_floats(const ops::Table& table, const LayerSpec& s,
                                       const LayerInfo& i);
// conv_im2col.cpp
std::unique_ptr<LayerKernel> make_im2col_conv(const ops::Table& table, const LayerSpec& s,
                                              const LayerInfo& i, const float* w, const float* b,
                                              bool relu);
std::size_t im2col_conv_scratch_floats(const ops::Table& table, const LayerSpec& s,
                                       const LayerInfo& i);

}  // namespace scratchcnn::fast
