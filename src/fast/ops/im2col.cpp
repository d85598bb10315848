// im2col and its adjoint (op_list.def: im2col, col2im_add): the convolution as a GEMM over a tile
// of output rows (fast/conv_im2col.cpp, Im2colConv).
#include "simd.hpp"  // first: see there

#include <cstring>

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

void im2col(const float* in, int in_ch, int k, int stride, int in_h, int in_w, int out_w, int y0,
            int y1, float* col) {
  const std::ptrdiff_t tile = std::ptrdiff_t(y1 - y0) * out_w * kChunk;
  const std::size_t row_bytes = sizeof(float) * std::size_t(out_w) * kChunk;
  for (int i = 0; i < in_ch; ++i)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        float* dst = col + ((std::ptrdiff_t(i) * k + ky) * k + kx) * tile;
        for (int y = y0; y < y1; ++y) {
          float* d = dst + std::ptrdiff_t(y - y0) * out_w * kChunk;
          const float* s =
              in + ((std::ptrdiff_t(i) * in_h + std::ptrdiff_t(y) * stride + ky) * in_w + kx) *
                       kChunk;
          if (stride == 1) {
            std::memcpy(d, s, row_bytes);  // the window's row is contiguous
          } else {
            for (int x = 0; x < out_w; ++x)
              std::memcpy(d + std::ptrdiff_t(x) * kChunk, s + std::ptrdiff_t(x) * stride * kChunk,
                          sizeof(float) * kChunk);
          }
        }
      }
}

void col2im_add(const float* col, int in_ch, int k, int stride, int in_h, int in_w, int out_w,
                int y0, int y1, float* gin) {
  const std::ptrdiff_t tile = std::ptrdiff_t(y1 - y0) * out_w * kChunk;
  const std::int64_t row = std::int64_t(out_w) * kChunk;
  for (int i = 0; i < in_ch; ++i)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        const float* src = col + ((std::ptrdiff_t(i) * k + ky) * k + kx) * tile;
        for (int y = y0; y < y1; ++y) {
          const float* s = src + std::ptrdiff_t(y - y0) * row;
          float* d =
              gin + ((std::ptrdiff_t(i) * in_h + std::ptrdiff_t(y) * stride + ky) * in_w + kx) *
                        kChunk;
          if (stride == 1) {
            for (std::int64_t q = 0; q < row; q += kLanes) store(d + q, load(d + q) + load(s + q));
          } else {
            // Each output column's chunk vector goes to input column x * stride + kx; the adds are
            // per lane, in the same (i, ky, kx, y, x) order at every level.
            for (int x = 0; x < out_w; ++x) {
              const float* sx = s + std::ptrdiff_t(x) * kChunk;
              float* dx = d + std::ptrdiff_t(x) * stride * kChunk;
              for (int q = 0; q < kChunk; q += kLanes) store(dx + q, load(dx + q) + load(sx + q));
            }
          }
        }
      }
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
