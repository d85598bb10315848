// The dispatch table of this level's copy of the kernels (dispatch.hpp).
// First: it silences a g++ 12 false positive inside the intrinsics headers it includes.
#include "simd.hpp"  // xsimd

#include "dispatch.hpp"

#ifndef SCRATCHCNN_ISA_LEVEL
#error "SCRATCHCNN_ISA_LEVEL (the level's name) must be defined for the per-level sources"
#endif

namespace scratchcnn::fast::SCRATCHCNN_ISA_NS {

using arch = xsimd::default_arch;

extern const Kernels table;
const Kernels table = {
    SCRATCHCNN_ISA_LEVEL,
    arch::name(),
    arch::version(),
    static_cast<int>(xsimd::batch<float, arch>::size),
    &fused_fma,
#define SCRATCHCNN_KERNELS_ENTRY(R, name, params, args) &name,
    SCRATCHCNN_KERNEL_ENTRIES(SCRATCHCNN_KERNELS_ENTRY)
    SCRATCHCNN_FAST_ENTRIES(SCRATCHCNN_KERNELS_ENTRY)
#undef SCRATCHCNN_KERNELS_ENTRY
};

}  // namespace scratchcnn::fast::SCRATCHCNN_ISA_NS
