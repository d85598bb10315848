// e^x for the ops that need it (sigmoid_forward, softmax_cross_entropy), built only from
// operations whose bits do not depend on the register width: fmadd and fnmadd (simd.hpp: one
// rounding at every level with FMA), separate multiplies and adds, exact conversions and selects.
// So every FMA level gives the same bits for the same input. xsimd 8.1's own exp does not: its
// polynomial uses xsimd::fma, which at avx512f is a separate multiply and add.
//
// Method (Cody and Waite's reduction, Cephes' expf polynomial):
//   k = round(x / ln 2) (to nearest, ties to even), r = x - k ln 2 with ln 2 = L_hi + L_lo,
//   L_hi having few enough bits that k * L_hi is exact for every k reached, so that
//   r = (x - k L_hi) - k L_lo loses nothing but the last rounding; |r| <= ln 2 / 2.
//   e^r ~ 1 + r + r^2 P(r), P of degree 4 (minimax for (e^r - 1 - r) / r^2: Cephes' expf),
//   evaluated by Horner's rule with one fused multiply-add per coefficient.
//   e^x = e^r * 2^k, 2^k written directly as the float with biased exponent k + 127.
// Saturation as xsimd::exp: x >= 88.376... (127.5 ln 2) gives +inf, x <= -88.376... gives +0,
// and so does every x whose k is -127 (2^k would be a subnormal: its exponent field is 0);
// NaN gives the same NaN. Inside the range the error is below 2 ulp (tests/test_exp.cpp).
// Include after simd.hpp.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

inline V vexp(const V& x) noexcept {
  using VI = xsimd::batch<std::int32_t, arch>;
  const V log2e(1.44269504088896341f);
  const V ln2_hi(0.693359375f);          // 0x3f318000: 9 significant bits
  const V ln2_lo(-2.12194440e-4f);       // 0xb95e8083: ln 2 - ln2_hi, rounded
  const V k = xsimd::nearbyint(x * log2e);
  V r = fnmadd(k, ln2_hi, x);
  r = fnmadd(k, ln2_lo, r);
  // P(r) = p0 + r (p1 + r (p2 + r (p3 + r p4))).
  V p(std::bit_cast<float>(0x3ab778cfu));  // 1.3997796e-3
  p = fmadd(r, p, V(std::bit_cast<float>(0x3c098d8bu)));  // 8.3955629e-3
  p = fmadd(r, p, V(std::bit_cast<float>(0x3d2aa957u)));  // 4.1665401e-2
  p = fmadd(r, p, V(std::bit_cast<float>(0x3e2aa9a5u)));  // 1.6666277e-1
  p = fmadd(r, p, V(0.5f));
  const V er = fmadd(p, r * r, r) + V(1.0f);
  // 2^k: biased exponent k + 127 in bits 23..30 (k in [-127, 127] wherever the selects below
  // keep the product).
  const VI bits = (xsimd::to_int(k) + VI(127)) << 23;
  const V scaled = er * xsimd::bitwise_cast<V>(bits);
  const V max_x(88.3762626647949f), min_x(-88.3762626647949f);
  V y = xsimd::select(x <= min_x, V(0.0f), scaled);
  y = xsimd::select(x >= max_x, V(std::numeric_limits<float>::infinity()), y);
  // NaN: x itself (quieted). The NaN the arithmetic above yields takes its sign and payload from
  // whichever operand the compiler put first, which differs between the levels' code.
  return xsimd::select(xsimd::isnan(x), x + x, y);
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
