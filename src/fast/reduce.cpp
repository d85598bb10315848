#include "fast/reduce.hpp"

#include <algorithm>
#include <cstdint>

namespace scratchcnn::fast {

void reduce_level(float* partials, std::size_t stride, int chunks, std::size_t count, int width,
                  int first, int last) {
  const int step = 2 * width;
  // The first multiple of 2 * width at or after `first`.
  for (int a = (std::max(first, 0) + step - 1) / step * step; a < last && a + width < chunks;
       a += step) {
    float* dst = partials + std::size_t(a) * stride;
    const float* src = partials + std::size_t(a + width) * stride;
    for (std::size_t i = 0; i < count; ++i) dst[i] += src[i];
  }
}

void reduce_chunks(float* partials, std::size_t stride, int chunks, std::size_t count, float* sum) {
  if (chunks <= 0) {
    std::fill(sum, sum + count, 0.0f);
    return;
  }
  // Level after level on this element range: each node still adds its two children, and the
  // inner loop runs over contiguous floats.
  for (int width = 1; width < chunks; width *= 2)
    reduce_level(partials, stride, chunks, count, width, 0, chunks);
  std::copy(partials, partials + count, sum);
}

std::pair<int, int> chunk_share(int chunks, int ranks, int rank) {
  const auto at = [&](int r) { return int(std::int64_t(chunks) * r / ranks); };
  return {at(rank), at(rank + 1)};
}

int chunk_owner(int chunks, int ranks, int chunk) {
  // The smallest r with floor(chunks * (r + 1) / ranks) > chunk, i.e.
  // chunks * (r + 1) >= ranks * (chunk + 1).
  const std::int64_t need = std::int64_t(ranks) * (chunk + 1);
  return int((need + chunks - 1) / chunks) - 1;
}

}  // namespace scratchcnn::fast
