// Activations, element by element (op_list.def: relu_forward, relu_backward, sigmoid_forward,
// exp_forward, sigmoid_backward); oracle: src/reference/pointwise.hpp.
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

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
