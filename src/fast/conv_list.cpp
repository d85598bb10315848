// The convolution implementations, best first; ConvAlgo::Auto takes the first that applies.
// docs/architecture.md ("Choosing a convolution") has the measurements behind the order.
#include "fast/conv_list.hpp"

#include <string>

#include "scratchcnn/error.hpp"

namespace scratchcnn::fast {
namespace {

// Both run every shape the model text allows today (stride 1, any kernel, padding and channel
// count). Direct is faster at every shape measured, so it comes first.
bool any_conv(const LayerSpec& s, const LayerInfo&) { return s.kind == LayerKind::Conv; }

constexpr ConvImpl kConvImpls[] = {
    {ConvAlgo::Direct, any_conv, make_direct_conv, direct_conv_scratch_floats},
    {ConvAlgo::Im2col, any_conv, make_im2col_conv, im2col_conv_scratch_floats},
};

}  // namespace

const ConvImpl& conv_impl(const LayerSpec& spec, const LayerInfo& info, ConvAlgo algo) {
  for (const ConvImpl& impl : kConvImpls)
    if ((algo == ConvAlgo::Auto || algo == impl.algo) && impl.applies(spec, info)) return impl;
  const std::string which = algo == ConvAlgo::Auto ? "" : std::string(conv_algo_name(algo)) + " ";
  throw Error("fast: no " + which + "convolution implementation applies to " + spec.text());
}

ConvAlgo choose_conv_algo(const LayerSpec& spec, const LayerInfo& info) {
  return conv_impl(spec, info, ConvAlgo::Auto).algo;
}

}  // namespace scratchcnn::fast
