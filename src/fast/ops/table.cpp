// This level's Table (ops.hpp): its name, its xsimd architecture and the addresses of its ops.
#include "simd.hpp"  // first: see there

#ifndef SCRATCHCNN_ISA_LEVEL
#error "SCRATCHCNN_ISA_LEVEL (the level's name) must be defined for the per-level sources"
#endif

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {

bool fused_fma() {
  // x = 1 + 2^-12: x*x = 1 + 2^-11 + 2^-24 needs 25 bits, so only a fused multiply-add keeps 2^-24;
  // both fmadd and fnmadd (the exponential uses both: they must round alike at every FMA level).
  const V x(1.0f + 0x1p-12f), c(1.0f + 0x1p-11f);
  const V r = fmadd(x, x, -c);
  const V n = fnmadd(x, x, c);
  return r.get(0) != 0.0f && n.get(0) != 0.0f;
}

const Table table = {
    SCRATCHCNN_ISA_LEVEL, arch::name(), arch::version(), kLanes, &fused_fma,
#define SCRATCHCNN_OP(R, name, params) &name,
#include "fast/ops/op_list.def"
};

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
