// Fused multiply-add on xsimd batches, shared by the GEMM kernels and the peak probe.
#pragma once

#include <type_traits>

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace scratchcnn::fast::detail {

// x * y + z with a single rounding wherever the hardware has FMA. xsimd 8.1 has no AVX-512
// specialisation of xsimd::fma: it falls back to a separate multiply and add (two roundings, twice
// the instructions, since -ffp-contract=off keeps them apart). That is the one place where an
// intrinsic is unavoidable. The fma3<...> architectures (AVX2/SSE4.2 + FMA) are fused by xsimd
// itself; plain SSE2 has no FMA and stays a multiply and an add.
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

}  // namespace scratchcnn::fast::detail
