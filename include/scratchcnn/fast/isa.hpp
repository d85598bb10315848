#pragma once
// Instruction-set levels of the fast kernels.
//
// The default (portable) build compiles the kernels once per level: "avx512f" (AVX-512F + FMA),
// "avx2" (AVX2 + FMA) and "sse4.2" (SSE4.2; multiply and add are separate, as there is no FMA),
// and picks one at run time: the best level this CPU and OS support, chosen with xsimd's dispatch
// (xsimd::dispatch over the compiled levels), unless the environment variable SCRATCHCNN_ISA
// names one (or "auto"). A SCRATCHCNN_NATIVE=ON build has a single level, "native"
// (-march=native: only for the machine it was built on).
//
// Results of the fast path depend on the level's bit class (below), never on the thread count:
// at one level, the same inputs give the same bits.
#include <string>
#include <vector>

namespace scratchcnn::fast {

// The levels compiled into this library, best first.
std::vector<std::string> compiled_isas();
// Those of them that this CPU (and its OS) can run, best first.
std::vector<std::string> supported_isas();

// The level in use. Resolved at the first use of the fast path: SCRATCHCNN_ISA when it is set and
// not empty, else the best supported level. Throws Error when SCRATCHCNN_ISA names a level that is
// not compiled in or that this CPU cannot run (the message names the variable and the choices).
std::string active_isa();

// Uses `level` ("auto": the best supported) from now on: for the free kernel functions and for
// fast networks and layers made afterwards (one made earlier keeps the level it was made with).
// Throws Error, changing nothing, when the level is not compiled in or the CPU cannot run it.
void set_isa(const std::string& level);

// The bit class of a level: the levels of one class compute the same bits from the same inputs,
// levels of different classes do not (multiply-add fused or not). "x86-fma" for avx512f, avx2 and
// a native x86 build with FMA; "sse4.2" for sse4.2 (multiply then add); "reference" for the
// reference path ("reference"). A class name maps to itself, so a checkpoint's recorded value
// reads the same whether it holds a level (older builds) or a class; "" (unknown) maps to "".
// Any other name (e.g. "native" of another build) is its own class.
std::string bit_class(const std::string& level);
// The bit class of the level in use: bit_class(active_isa()).
std::string active_bit_class();

struct IsaInfo {
  std::string level;       // "avx512f", "avx2", "sse4.2", "native"
  std::string bits;        // its bit class (bit_class): "x86-fma", "sse4.2", "native"
  std::string xsimd_arch;  // the xsimd architecture of that build: "avx512f", "fma3+avx2", "sse4.2"
  int vector_floats = 0;   // floats per SIMD register
  bool fused_fma = false;  // true when every multiply-add is rounded once (hardware FMA)
  std::string chosen_by;   // "SCRATCHCNN_ISA", "set_isa", "xsimd::dispatch" (auto), or "the build's
                           // only level" (auto in a single-level build)
};
// About the level in use (resolving it as active_isa() does).
IsaInfo isa_info();

// One line for logs and reports, e.g. "avx512f (xsimd avx512f, 16 floats, fused FMA; chosen by
// xsimd::dispatch; compiled: avx512f, avx2, sse4.2; this CPU runs: avx512f, avx2, sse4.2)".
std::string isa_summary();

}  // namespace scratchcnn::fast
