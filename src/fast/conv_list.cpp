// The convolution implementations, best first; ConvAlgo::Auto takes the first that applies.
// docs/architecture.md ("Choosing a convolution") has the measurements behind the order.
#include "fast/conv_list.hpp"

#include <string>

#include "scratchcnn/error.hpp"

namespace scratchcnn::fast {
namespace {

// Both run every kernel size, padding and channel count the model text allows, at stride 1 only
// (a strided convolution is refused with an Error naming it, until one of them steps its window).
// Direct is faster at every shape measured, so it comes first.
bool unit_stride_conv(const LayerSpec& s, const LayerInfo&) {
  return s.kind == LayerKind::Conv && s.conv_stride() == 1;
}

constexpr ConvImpl kConvImpls[] = {
    {ConvAlgo::Direct, unit_stride_conv, "stride 1 only", make_direct_conv,
     direct_conv_scratch_floats},
    {ConvAlgo::Im2col, unit_stride_conv, "stride 1 only", make_im2col_conv,
     im2col_conv_scratch_floats},
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
