// Zero padding as a copy (op_list.def: pad_copy, crop_copy), for convolutions whose activations
// fit L2 (border_in_place) and for im2col.
#include "simd.hpp"  // first: see there

#include <cstring>

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

void pad_copy(const float* in, int c, int h, int w, int pad, float* out) {
  const int wp = w + 2 * pad, hp = h + 2 * pad;
  const std::size_t row_bytes = sizeof(float) * std::size_t(w) * kChunk;
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      std::memcpy(out + ((std::ptrdiff_t(ch) * hp + y + pad) * wp + pad) * kChunk,
                  in + (std::ptrdiff_t(ch) * h + y) * w * kChunk, row_bytes);
}

void crop_copy(const float* in, int c, int h, int w, int pad, float* out) {
  const int wp = w + 2 * pad, hp = h + 2 * pad;
  const std::size_t row_bytes = sizeof(float) * std::size_t(w) * kChunk;
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      std::memcpy(out + (std::ptrdiff_t(ch) * h + y) * w * kChunk,
                  in + ((std::ptrdiff_t(ch) * hp + y + pad) * wp + pad) * kChunk, row_bytes);
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
