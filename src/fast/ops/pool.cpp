// Max-pool, window k, stride k, and average pool, any window and stride (op_list.def:
// maxpool_forward, maxpool_backward, avgpool_forward, avgpool_backward); oracle:
// src/reference/pool.hpp.
#include "simd.hpp"  // first: see there

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

void maxpool_forward(const float* in, int c, int h, int w, int k, float* out) {
  const int oh = h / k, ow = w / k;
  for (int ch = 0; ch < c; ++ch)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        const float* win = in + ((std::ptrdiff_t(ch) * h + oy * k) * w + ox * k) * kChunk;
        float* o = out + ((std::ptrdiff_t(ch) * oh + oy) * ow + ox) * kChunk;
        for (int v = 0; v < kChunkRegs; ++v) {
          V m = load(win + v * kLanes);
          for (int dy = 0; dy < k; ++dy)
            for (int dx = (dy == 0 ? 1 : 0); dx < k; ++dx) {
              const V x = load(win + (std::ptrdiff_t(dy) * w + dx) * kChunk + v * kLanes);
              m = xsimd::select(x > m, x, m);
            }
          store(o + v * kLanes, m);
        }
      }
}

void maxpool_backward(const float* in, const float* out, const float* g, int c, int h, int w, int k,
                      float* gin) {
  const int oh = h / k, ow = w / k;
  for (int ch = 0; ch < c; ++ch)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        const std::ptrdiff_t base = ((std::ptrdiff_t(ch) * h + oy * k) * w + ox * k) * kChunk;
        const std::ptrdiff_t o = ((std::ptrdiff_t(ch) * oh + oy) * ow + ox) * kChunk;
        for (int v = 0; v < kChunkRegs; ++v) {
          const V m = load(out + o + v * kLanes), gv = load(g + o + v * kLanes);
          VB taken(false);
          for (int dy = 0; dy < k; ++dy)
            for (int dx = 0; dx < k; ++dx) {
              const std::ptrdiff_t p = base + (std::ptrdiff_t(dy) * w + dx) * kChunk + v * kLanes;
              const VB hit = (load(in + p) == m) & ~taken;
              store(gin + p, xsimd::select(hit, gv, V(0.0f)));
              taken = taken | hit;
            }
        }
      }
}

void avgpool_forward(const float* in, int c, int h, int w, int kh, int kw, int sh, int sw,
                     float* out) {
  const int oh = (h - kh) / sh + 1, ow = (w - kw) / sw + 1;
  const V count(float(kh * kw));
  for (int ch = 0; ch < c; ++ch)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        const float* win = in + ((std::ptrdiff_t(ch) * h + oy * sh) * w + ox * sw) * kChunk;
        float* o = out + ((std::ptrdiff_t(ch) * oh + oy) * ow + ox) * kChunk;
        for (int v = 0; v < kChunkRegs; ++v) {
          V sum(0.0f);
          for (int dy = 0; dy < kh; ++dy)
            for (int dx = 0; dx < kw; ++dx)
              sum = sum + load(win + (std::ptrdiff_t(dy) * w + dx) * kChunk + v * kLanes);
          store(o + v * kLanes, div(sum, count));
        }
      }
}

void avgpool_backward(const float* g, int c, int h, int w, int kh, int kw, int sh, int sw,
                      float* gin) {
  const int oh = (h - kh) / sh + 1, ow = (w - kw) / sw + 1;
  const V count(float(kh * kw));
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(c) * h * w * kChunk; i += kLanes) store(gin + i, V(0.0f));
  for (int ch = 0; ch < c; ++ch)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        float* win = gin + ((std::ptrdiff_t(ch) * h + oy * sh) * w + ox * sw) * kChunk;
        const float* go = g + ((std::ptrdiff_t(ch) * oh + oy) * ow + ox) * kChunk;
        for (int v = 0; v < kChunkRegs; ++v) {
          const V q = div(load(go + v * kLanes), count);
          for (int dy = 0; dy < kh; ++dy)
            for (int dx = 0; dx < kw; ++dx) {
              float* p = win + (std::ptrdiff_t(dy) * w + dx) * kChunk + v * kLanes;
              store(p, load(p) + q);
            }
        }
      }
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
