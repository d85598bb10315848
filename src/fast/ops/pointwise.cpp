// Activations, element by element (op_list.def: relu_forward, relu_backward, sigmoid_forward,
// exp_forward, sigmoid_backward, tanh_forward, tanh_backward); oracle: src/reference/pointwise.hpp.
#include "simd.hpp"  // first: see there

#include "exp.hpp"

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

void relu_forward(const float* in, float* out, std::int64_t count) {
  for (std::int64_t q = 0; q < count; q += kLanes) store(out + q, relu(load(in + q)));
}

void relu_backward(const float* out, const float* g, float* gin, std::int64_t count) {
  for (std::int64_t q = 0; q < count; q += kLanes)
    store(gin + q, xsimd::select(load(out + q) > V(0.0f), load(g + q), V(0.0f)));
}

void sigmoid_forward(const float* in, float* out, std::int64_t count) {
  const V one(1.0f), sign(-0.0f);
  // -x by flipping the sign bit (xsimd's operator- at avx512f subtracts from 0, which keeps a
  // NaN's sign: the level would show in sigmoid(NaN)).
  for (std::int64_t q = 0; q < count; q += kLanes)
    store(out + q, div(one, one + vexp(xsimd::bitwise_xor(load(in + q), sign))));
}

void exp_forward(const float* in, float* out, std::int64_t count) {
  for (std::int64_t q = 0; q < count; q += kLanes) store(out + q, vexp(load(in + q)));
}

void sigmoid_backward(const float* out, const float* g, float* gin, std::int64_t count) {
  const V one(1.0f);
  for (std::int64_t q = 0; q < count; q += kLanes) {
    const V o = load(out + q);
    store(gin + q, load(g + q) * (o * (one - o)));
  }
}

void tanh_forward(const float* in, float* out, std::int64_t count) {
  const V one(1.0f), two(2.0f), sign(-0.0f), small(0.625f);
  for (std::int64_t q = 0; q < count; q += kLanes) {
    const V x = load(in + q);
    const V a = xsimd::abs(x);
    // |x| < 0.625: x + x^3 P(x^2), P of degree 4 (Cephes' tanhf), one fused multiply-add per
    // coefficient; 1 - 2 / (e^(2|x|) + 1) loses too many bits to cancellation there.
    const V s = x * x;
    V p(-5.70498872745e-3f);
    p = fmadd(p, s, V(2.06390887954e-2f));
    p = fmadd(p, s, V(-5.37397155531e-2f));
    p = fmadd(p, s, V(1.33314422036e-1f));
    p = fmadd(p, s, V(-3.33332819422e-1f));
    const V near0 = fmadd(p * s, x, x);
    // Above: e^(2|x|) is +inf from |x| = 44.19 on, and 2 / inf = 0 gives exactly 1.
    const V far = one - div(two, vexp(a + a) + one);
    const V y = xsimd::select(a < small, near0, xsimd::bitwise_or(far, xsimd::bitwise_and(x, sign)));
    // NaN: x itself (quieted), as vexp does.
    store(out + q, xsimd::select(xsimd::isnan(x), x + x, y));
  }
}

void tanh_backward(const float* out, const float* g, float* gin, std::int64_t count) {
  const V one(1.0f);
  for (std::int64_t q = 0; q < count; q += kLanes) {
    const V o = load(out + q);
    store(gin + q, load(g + q) * (one - o * o));
  }
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
