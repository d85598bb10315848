#pragma once
// The fast path's SIMD kernels on one chunk (layout.hpp): every array here is (..., kChunk), the
// chunk's samples innermost, 64-byte aligned. The kernels are single-threaded and keep no state;
// callers run different chunks on different threads. Each one sums in a fixed order that does not
// depend on anything but the shapes, so the same inputs always give the same bits.
// Multiply-adds inside kernels are fused (xsimd::fma); the SGD update is not (network.cpp).
#include <cstddef>
#include <cstdint>

namespace scratchcnn::fast::kernels {

// A direct correlation: for every output channel o and output position (y, x),
//   out[o][y][x] = (sum over i, ky, kx of W(o, i, ky, kx) * in[i][y + offset + ky][x + offset + kx])
//                  + bias[o]
// the sum from 0 with i outermost, then ky, then kx; the bias (when given) added after it, as
// the reference adds it. With relu the result is max(0, .) (the ReLU after a
// conv or dense layer, fused). Input positions outside in_h x in_w read as 0 (a virtual zero
// border: offset may be negative), exactly as if the input had been zero-padded.
// W(o, i, ky, kx) = w[o * so + i * si + ky * sky + kx * skx]: strides may be negative, so the same
// kernel runs a conv forward (W = weights), a conv backward-data (W = weights transposed and
// rotated by 180 degrees, read in place, offset = pad - (k - 1)), and dense forward /
// backward-data (k = 1, 1x1 images).
struct Correlation {
  int out_ch = 0, in_ch = 0, k = 1;
  int out_h = 1, out_w = 1;  // output size
  int in_h = 1, in_w = 1;    // input buffer size
  int offset = 0;
  const float* w = nullptr;
  std::ptrdiff_t so = 0, si = 0, sky = 0, skx = 0;
  // Register-block shape (output channels x output columns); 0 = let correlate() choose.
  // plan_correlation() fills it once so the choice is not repeated for every chunk.
  int cb = 0, xb = 0;
};
void plan_correlation(Correlation& c);
// Whether a convolution should read an activation of `floats` floats (one chunk) in place with a
// virtual zero border rather than from a zero-padded copy: true when it does not fit L2, where the
// copy is one more pass through L3 or memory; below that, copying the border windows one at a
// time costs more than the copy (seed and LeNet-5 shapes: 20-45% slower per pass).
bool border_in_place(std::size_t floats);
// Floats of scratch correlate() needs for windows that reach the zero border (one window copy).
std::size_t correlate_scratch(const Correlation& c);
// in: (in_ch, in_h, in_w, kChunk); bias: (out_ch) or null; out: (out_ch, out_h, out_w, kChunk);
// scratch: correlate_scratch(c) floats, or null when every window lies inside the input.
void correlate(const Correlation& c, const float* in, const float* bias, bool relu, float* out,
               float* scratch);

// Convolution weight and bias gradient of one chunk (summed over its samples and positions):
//   dw[o][i][ky][kx] = sum over y, x, lanes of g[o][y][x] * in[i][y + ky - pad][x + kx - pad]
//   db[o] = sum over y, x, lanes of g[o][y][x]
// g: (out_ch, out_h, out_w, kChunk); in: (in_ch, in_h, in_w, kChunk), either unpadded with the
// layer's pad (positions outside it are zeros, skipped: the same bits as a zero-padded input) or
// a zero-padded copy with pad = 0;
// dw: (out_ch, in_ch, k, k), db: (out_ch); both written, not added to.
void conv_weight_grad(int out_ch, int in_ch, int k, int pad, int out_h, int out_w, int in_h,
                      int in_w, const float* g, const float* in, float* dw, float* db);

// Dense weight and bias gradient of one chunk: dw = g * in^T summed over the lanes, db = lane sums.
// g: (rows, kChunk); in: (cols, kChunk); dw: (rows, cols); db: (rows); written, not added to.
// scratch: dense_weight_grad_scratch(cols) floats.
std::size_t dense_weight_grad_scratch(int cols);
void dense_weight_grad(int rows, int cols, const float* g, const float* in, float* scratch, float* dw,
                       float* db);

// Copies in: (c, h, w, kChunk) into the interior of out: (c, h + 2 pad, w + 2 pad, kChunk).
// The border is not touched (callers keep it zero).
void pad_copy(const float* in, int c, int h, int w, int pad, float* out);

// The inverse: copies the interior of in: (c, h + 2 pad, w + 2 pad, kChunk) to out: (c, h, w, kChunk).
void crop_copy(const float* in, int c, int h, int w, int pad, float* out);

// im2col for one tile of output rows [y0, y1) of a convolution over the padded input
// in: (in_ch, in_h, in_w, kChunk): col: (in_ch * k * k, (y1 - y0) * out_w * kChunk),
//   col[(i, ky, kx)][(y - y0, x, lane)] = in[i][y + ky][x + kx][lane].
void im2col(const float* in, int in_ch, int k, int in_h, int in_w, int out_w, int y0, int y1,
            float* col);
// The adjoint of im2col: adds col (same shapes) into the padded gin: (in_ch, in_h, in_w, kChunk),
// in (i, ky, kx, y, x) order.
void col2im_add(const float* col, int in_ch, int k, int in_h, int in_w, int out_w, int y0, int y1,
                float* gin);
// out[(ch, p)] = relu?(out + bias[ch]); out: (channels, plane) with plane a multiple of kChunk
// floats, row stride ld floats.
void bias_act(float* out, int channels, std::int64_t plane, std::int64_t ld, const float* bias,
              bool relu);
// Lane sums of g: (channels, plane) -> db (channels); plane a multiple of kChunk.
void channel_sums(const float* g, int channels, std::int64_t plane, float* db);

// Pointwise, over `count` floats (a multiple of kChunk).
void relu_forward(const float* in, float* out, std::int64_t count);
// gin = g where out > 0, else 0 (the derivative at 0 is 0). gin may alias g.
void relu_backward(const float* out, const float* g, float* gin, std::int64_t count);
void sigmoid_forward(const float* in, float* out, std::int64_t count);
// gin = g * (out * (1 - out)).
void sigmoid_backward(const float* out, const float* g, float* gin, std::int64_t count);

// Max-pool, window k, stride k, h and w divisible by k.
// in: (c, h, w, kChunk) -> out: (c, h / k, w / k, kChunk); ties: the first maximum in row-major
// order within the window (a later value must be strictly greater to win).
void maxpool_forward(const float* in, int c, int h, int w, int k, float* out);
// Routes g: (c, h / k, w / k, kChunk) to the first position of each window whose input equals the
// window's output, which is the position forward chose; gin: (c, h, w, kChunk), zeros elsewhere.
void maxpool_backward(const float* in, const float* out, const float* g, int c, int h, int w, int k,
                      float* gin);

// Softmax cross-entropy of one chunk. logits, grad: (classes, kChunk). For the `valid` samples of
// the chunk (lanes 0..valid-1): loss[s] = log(sum_j e^(z_j - m)) - (z_label - m) with m the largest
// logit, computed in double from the float exponential sum, so finite for finite logits;
// grad = softmax(z) - onehot(label); correct[s] = 1 if the first largest logit is the label.
// Lanes >= valid get grad 0, so they add nothing to any parameter gradient.
void softmax_cross_entropy(const float* logits, int classes, const int* labels, int valid,
                           float* grad, double* loss, unsigned char* correct);

}  // namespace scratchcnn::fast::kernels
