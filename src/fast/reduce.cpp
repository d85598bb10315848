#include "fast/reduce.hpp"

#include <algorithm>

namespace scratchcnn::fast {

void reduce_chunks(const float* partials, std::size_t stride, int chunks, std::size_t count,
                   float* sum) {
  if (chunks <= 0) {
    std::fill(sum, sum + count, 0.0f);
    return;
  }
  std::copy(partials, partials + count, sum);
  // Chunk after chunk (not element after element): each sum still adds its terms in chunk order,
  // and the inner loop runs over contiguous floats.
  for (int q = 1; q < chunks; ++q) {
    const float* p = partials + std::size_t(q) * stride;
    for (std::size_t i = 0; i < count; ++i) sum[i] += p[i];
  }
}

}  // namespace scratchcnn::fast
