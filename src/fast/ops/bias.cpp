// The bias of a layer whose sum is computed elsewhere (op_list.def: bias_act, and channel_sums,
// its gradient).
#include "simd.hpp"  // first: see there

namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS {
namespace {

// The sum of the chunk vectors of p: (plane): per sample (lane) a sum in position order, then the
// 16 per-sample sums in hsum_chunk's tree.
float chunk_vector_sum(const float* p, std::int64_t plane) {
  V t[kChunkRegs];
  for (int v = 0; v < kChunkRegs; ++v) t[v] = V(0.0f);
  for (std::int64_t q = 0; q < plane; q += kChunk)
    for (int v = 0; v < kChunkRegs; ++v) t[v] += load(p + q + v * kLanes);
  return hsum_chunk(t);
}

}  // namespace

void bias_act(float* out, int channels, std::int64_t plane, std::int64_t ld, const float* bias,
              bool act) {
  for (int c = 0; c < channels; ++c) {
    float* p = out + c * ld;
    const V b(bias[c]);
    if (act)
      for (std::int64_t q = 0; q < plane; q += kLanes) store(p + q, relu(load(p + q) + b));
    else
      for (std::int64_t q = 0; q < plane; q += kLanes) store(p + q, load(p + q) + b);
  }
}

void channel_sums(const float* g, int channels, std::int64_t plane, float* db) {
  for (int c = 0; c < channels; ++c) db[c] = chunk_vector_sum(g + c * plane, plane);
}

}  // namespace scratchcnn::fast::ops::SCRATCHCNN_ISA_NS
