// What every per-level op file shares (vocabulary in ops.hpp): the register type and its width,
// aligned loads and stores, the two batch operations xsimd 8.1 lacks at some level (fmadd, hsum),
// the one order in which a chunk vector's registers are summed (hsum_chunk),
// compile-time unrolling and the block table that picks a kernel by block shape.
#pragma once

#include <type_traits>
#include <utility>

// g++ 12's own AVX-512 intrinsics (_mm512_extractf64x4_pd and _mm512_castps512_ps256, which hsum
// below uses, pass an _mm256_undefined_* operand) are reported as maybe-uninitialized
// (uninitialized under the sanitizers) once inlined: a known false positive of the compiler's
// headers, not our code. This header must therefore come first in every op file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "fast/layout.hpp"
#include "fast/ops/ops.hpp"

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

using arch = xsimd::default_arch;
using V = xsimd::batch<float, arch>;
using VB = xsimd::batch_bool<float, arch>;
// Floats per register.
constexpr int kLanes = static_cast<int>(V::size);
static_assert(kChunk % kLanes == 0, "a chunk is a whole number of registers");
// Registers per chunk vector (the kChunk samples of one position).
constexpr int kChunkRegs = kChunk / kLanes;
// Vector registers a kernel may fill with accumulators and operands.
constexpr int kRegs = kLanes >= 16 ? 32 : 16;
// Per-core L2 (Zen 4 and 5: 1 MiB). Beyond it, a full extra pass over an activation (a padded
// copy) goes to L3 or memory.
constexpr double kL2Bytes = 1024.0 * 1024.0;

inline V load(const float* p) { return V::load_aligned(p); }
inline void store(float* p, const V& v) { v.store_aligned(p); }
inline V relu(const V& v) { return xsimd::select(v > V(0.0f), v, V(0.0f)); }

// x * y + z with a single rounding wherever the hardware has FMA. xsimd 8.1 has no AVX-512
// specialisation of xsimd::fma: it falls back to a separate multiply and add (two roundings, twice
// the instructions, since -ffp-contract=off keeps them apart). That is the one place where an
// intrinsic is unavoidable. The fma3<...> architectures (AVX2/SSE4.2 + FMA) are fused by xsimd
// itself; plain SSE4.2 has no FMA and stays a multiply and an add.
inline V fmadd(const V& x, const V& y, const V& z) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, arch>) {
    return _mm512_fmadd_ps(x, y, z);
  } else
#endif
  {
    return xsimd::fma(x, y, z);
  }
}

// z - x * y, rounded once where fmadd is (the same levels, for the same reason). xsimd 8.1 has no
// NEON fnma either: its generic one negates, multiplies and adds, so at neon64 the fused
// instruction (FMLS) is asked for by its intrinsic.
inline V fnmadd(const V& x, const V& y, const V& z) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, arch>) {
    return _mm512_fnmadd_ps(x, y, z);
  } else
#endif
#if defined(__aarch64__)
  if constexpr (std::is_base_of_v<xsimd::neon64, arch>) {
    return vfmsq_f32(z, x, y);
  } else
#endif
  {
    return xsimd::fnma(x, y, z);
  }
}

// x / y, correctly rounded. xsimd 8.1 has no NEON float division on AArch64: it falls back to
// ARMv7's reciprocal estimate and two Newton steps, which is not the IEEE quotient, so at neon64
// the FDIV instruction is asked for by its intrinsic. Every x86 level divides exactly already.
inline V div(const V& x, const V& y) noexcept {
#if defined(__aarch64__)
  if constexpr (std::is_base_of_v<xsimd::neon64, arch>) {
    return vdivq_f32(x, y);
  } else
#endif
  {
    return x / y;
  }
}

// The sum of the lanes, in xsimd::hadd's fixed order. xsimd 8.1's AVX-512 hadd needs AVX512DQ
// (_mm512_extractf32x8_ps), which the avx512f level does not assume: there the same order (upper
// half plus lower half, then the AVX2 reduction) with an AVX-512F extract, so the bits are the same.
inline float hsum(const V& v) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, arch>) {
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

// The sum of the kChunk floats of one chunk vector held in kChunkRegs registers (register v has
// floats v * kLanes ...), in one tree at every level: with s_0 .. s_15 the floats,
// u_i = s_i + s_(i+8), t_i = u_i + u_(i+4), then (t_0 + t_1) + (t_2 + t_3). At avx512f that is hsum
// of the one register (upper half plus lower half, then xsimd's avx hadd: t_i, then the two pairs
// and their sum); at avx2 hsum(r0 + r1) (r0 + r1 is u); at sse4.2 hsum((r0 + r2) + (r1 + r3)), which
// is t, and xsimd's sse3 hadd then adds (t_0 + t_1) + (t_2 + t_3).
inline float hsum_chunk(const V (&r)[kChunkRegs]) noexcept {
  static_assert(kChunk == 16 && (kChunkRegs == 1 || kChunkRegs == 2 || kChunkRegs == 4),
                "the tree is written for 16-float chunks");
  if constexpr (kChunkRegs == 1) {
    return hsum(r[0]);
  } else if constexpr (kChunkRegs == 2) {
    return hsum(r[0] + r[1]);
  } else {
    return hsum((r[0] + r[2]) + (r[1] + r[3]));
  }
}

template <class F, int... I>
constexpr void unroll_impl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
// Calls f(integral_constant<int, 0>) ... f(integral_constant<int, N - 1>): forces full unrolling,
// so that accumulators indexed by the constant live in registers.
template <int N, class F>
constexpr void unroll(F&& f) {
  unroll_impl(std::forward<F>(f), std::make_integer_sequence<int, N>{});
}

// The kernels of one op for every block shape rows x cols up to Rows x Cols, so that the block
// shape can be chosen at run time while each kernel has it as compile-time constants.
template <class Fn, int Rows, int Cols>
struct BlockTable {
  Fn fn[Rows][Cols];
  constexpr Fn operator()(int rows, int cols) const { return fn[rows - 1][cols - 1]; }
};
// pick(integral_constant rows, integral_constant cols) returns the kernel of that block shape, or
// nullptr for a shape the op never uses (one that does not fit the registers).
template <class Fn, int Rows, int Cols, class Pick>
constexpr BlockTable<Fn, Rows, Cols> make_block_table(Pick pick) {
  BlockTable<Fn, Rows, Cols> t{};
  unroll<Rows>([&](auto r) {
    unroll<Cols>([&](auto c) {
      t.fn[r][c] = pick(std::integral_constant<int, r + 1>{}, std::integral_constant<int, c + 1>{});
    });
  });
  return t;
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
