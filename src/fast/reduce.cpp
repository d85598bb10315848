#include "fast/reduce.hpp"

#include <omp.h>

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

std::size_t reduce_across(ProcessGroup& g, float* partials, std::size_t stride, int chunks,
                          std::size_t count, float* sum, int threads) {
  const int ranks = g.size(), me = g.rank();
  // Plain ints, not a structured binding: OpenMP regions may not capture those (clang refuses).
  const std::pair<int, int> share = chunk_share(chunks, ranks, me);
  const int first = share.first, last = share.second;
  const std::int64_t blocks = std::int64_t((count + kReduceBlock - 1) / kReduceBlock);
  std::size_t sent = 0;
  // The invariant: before the level of width w, the owner of chunk x (chunk_owner) holds node x
  // (the sum of chunks [x, min(x + w, chunks))) in slot x for every multiple x of w; each node a
  // (a multiple of 2w) with a + w < chunks is added by the owner of a, which holds the node a + w
  // too or receives it from its owner, so the invariant carries to 2w and the root ends on
  // chunk_owner(chunks, ranks, 0) in slot 0.
  // At most one send and one receive per rank per level: owners are non-decreasing in the chunk
  // index and rank r's share is [f, l). Rank r sends node a + w only when owner(a) < r =
  // owner(a + w), so a < f <= a + w; it receives node a + w only when owner(a) = r <
  // owner(a + w), so a < l <= a + w. The intervals (a, a + w] of one level's nodes are disjoint
  // (a steps by 2w), so each of f and l lies in at most one of them.
  for (int w = 1; w < chunks; w *= 2) {
    int to = -1, from = -1;
    const float* send = nullptr;
    float* recv = nullptr;
    for (int a = 0; a + w < chunks; a += 2 * w) {
      const int left = chunk_owner(chunks, ranks, a), right = chunk_owner(chunks, ranks, a + w);
      if (left == right) continue;
      if (right == me) {
        to = left;
        send = partials + std::size_t(a + w) * stride;
      }
      if (left == me) {
        from = right;
        recv = partials + std::size_t(a + w) * stride;
      }
    }
    g.exchange(to, send, from, recv, count);
    if (to >= 0) sent += count * sizeof(float);
    if (last > first) {
#pragma omp parallel for schedule(static) num_threads(std::max(1, threads))
      for (std::int64_t b = 0; b < blocks; ++b) {
        const std::size_t i0 = std::size_t(b) * kReduceBlock;
        const std::size_t i1 = std::min(count, i0 + kReduceBlock);
        reduce_level(partials + i0, stride, chunks, i1 - i0, w, first, last);
      }
    }
  }
  const int root = chunks > 0 ? chunk_owner(chunks, ranks, 0) : 0;
  if (chunks <= 0) std::fill(sum, sum + count, 0.0f);
  else if (me == root) std::copy(partials, partials + count, sum);
  g.broadcast(sum, count * sizeof(float), root);
  return sent;
}

}  // namespace scratchcnn::fast
