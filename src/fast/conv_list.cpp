// The convolution implementations, best first; ConvAlgo::Auto takes the first that applies.
// docs/architecture.md ("Choosing a convolution") has the measurements behind the order.
#include "fast/conv_list.hpp"

#include <string>

#include "scratchcnn/error.hpp"

namespace scratchcnn::fast {
namespace {

// Both run every kernel size, padding and channel count the model text allows; im2col also runs
// every stride (its im2col and col2im_add ops step the window), direct only stride 1 (its
// correlate op, and its input gradient as a correlation of the zero-extended output gradient,
// assume it). Direct is faster at every stride-1 shape measured, so it comes first; strided
// layers fall through to im2col.
bool unit_stride_conv(const LayerSpec& s, const LayerInfo&) {
  return s.kind == LayerKind::Conv && s.conv_stride() == 1;
}
bool any_conv(const LayerSpec& s, const LayerInfo&) { return s.kind == LayerKind::Conv; }

constexpr ConvImpl kConvImpls[] = {
    {ConvAlgo::Direct, unit_stride_conv, "stride 1 only", make_direct_conv,
     direct_conv_scratch_floats},
    {ConvAlgo::Im2col, any_conv, "every stride", make_im2col_conv, im2col_conv_scratch_floats},
};

}  // namespace

const ConvImpl& conv_impl(const LayerSpec& spec, const LayerInfo& info, ConvAlgo algo) {
  for (const ConvImpl& impl : kConvImpls)
    if ((algo == ConvAlgo::Auto || algo == impl.algo) && impl.applies(spec, info)) return impl;
  if (algo != ConvAlgo::Auto)
    for (const ConvImpl& impl : kConvImpls)
      if (impl.algo == algo)
        throw Error("fast: the " + std::string(conv_algo_name(algo)) +
                    " convolution does not run " + spec.text() + " (it runs " + impl.runs +
                    "); choose auto or another algorithm");
  throw Error("fast: no convolution implementation applies to " + spec.text());
}

ConvAlgo choose_conv_algo(const LayerSpec& spec, const LayerInfo& info) {
  return conv_impl(spec, info, ConvAlgo::Auto).algo;
}

}  // namespace scratchcnn::fast
