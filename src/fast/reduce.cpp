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

namespace {

// The share boundaries' grain: the largest power of two <= chunks / (8 ranks), at least 1.
int share_grain(int chunks, int ranks) {
  const std::int64_t most = std::int64_t(chunks) / (8 * std::int64_t(ranks));
  int grain = 1;
  while (2 * std::int64_t(grain) <= most) grain *= 2;
  return grain;
}

// Where rank r's share begins (r = ranks: chunks).
int share_start(int chunks, int ranks, int grain, int r) {
  if (r >= ranks) return chunks;
  const int even = int(std::int64_t(chunks) * r / ranks);
  return even / grain * grain;
}

}  // namespace

std::pair<int, int> chunk_share(int chunks, int ranks, int rank) {
  const int grain = share_grain(chunks, ranks);
  return {share_start(chunks, ranks, grain, rank), share_start(chunks, ranks, grain, rank + 1)};
}

int chunk_owner(int chunks, int ranks, int chunk) {
  // The last rank whose share starts at or before `chunk` and is not empty: the largest r with
  // start(r) <= chunk (starts never decrease, and an empty share starts where the next one does).
  const int grain = share_grain(chunks, ranks);
  int lo = 0, hi = ranks - 1;
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (share_start(chunks, ranks, grain, mid) <= chunk) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

}  // namespace scratchcnn::fast
