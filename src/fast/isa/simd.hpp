// Two operations on xsimd batches that xsimd 8.1 does not provide as needed at every level, shared
// by the per-level kernels (dispatch.hpp).
#pragma once

#include <type_traits>

// g++ 12 reports the AVX-512 intrinsics inside xsimd::exp (_mm512_undefined_* operands) as
// maybe-uninitialized (uninitialized under the sanitizers) once they are inlined; a known
// false positive, not our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace scratchcnn::fast::SCRATCHCNN_ISA_NS::detail {

// x * y + z with a single rounding wherever the hardware has FMA. xsimd 8.1 has no AVX-512
// specialisation of xsimd::fma: it falls back to a separate multiply and add (two roundings, twice
// the instructions, since -ffp-contract=off keeps them apart). That is the one place where an
// intrinsic is unavoidable. The fma3<...> architectures (AVX2/SSE4.2 + FMA) are fused by xsimd
// itself; plain SSE4.2 has no FMA and stays a multiply and an add.
template <class Arch>
inline xsimd::batch<float, Arch> fmadd(const xsimd::batch<float, Arch>& x, const xsimd::batch<float, Arch>& y,
                                       const xsimd::batch<float, Arch>& z) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    return _mm512_fmadd_ps(x, y, z);
  } else
#endif
  {
    return xsimd::fma(x, y, z);
  }
}

// The sum of the lanes, in xsimd::hadd's fixed order. xsimd 8.1's AVX-512 hadd needs AVX512DQ
// (_mm512_extractf32x8_ps), which the avx512f level does not assume: there the same order (upper
// half plus lower half, then the AVX2 reduction) with an AVX-512F extract, so the bits are the same.
template <class Arch>
inline float hsum(const xsimd::batch<float, Arch>& v) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    const __m512 x = v;
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
    const __m256 lo = _mm512_castps512_ps256(x);
    return xsimd::hadd(xsimd::batch<float, xsimd::avx2>(_mm256_add_ps(hi, lo)));
  } else
#endif
  {
    return xsimd::hadd(v);
  }
}

}  // namespace scratchcnn::fast::SCRATCHCNN_ISA_NS::detail
