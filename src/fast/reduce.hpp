#pragma once
// The one reduction of per-chunk partial gradient sums. Every chunk (layout.hpp) writes its own
// partial sums; they are added in one fixed pairwise tree over chunk indices, so the result is
// the same bits at any thread count and on any number of processes (process_group.hpp).
//
// The tree over chunks 0..C-1: for width = 1, 2, 4, ... < C (one level each), for every a that is
// a multiple of 2 * width with a + width < C: node[a] += node[a + width]. After the level of
// width w, slot a (a multiple of 2w) holds the sum of chunks [a, min(a + 2w, C)); the root is
// slot 0. For C = 5: ((c0 + c1) + (c2 + c3)) + c4.
#include <cstddef>
#include <utility>

#include "scratchcnn/process_group.hpp"

namespace scratchcnn::fast {

// Floats per block when threads share a reduction's elements: whole cache lines per thread.
inline constexpr std::size_t kReduceBlock = 64;

// One level of the tree, in place, on `count` floats of every slot: chunk q's partials start at
// partials + q * stride. Only the nodes a in [first, last) are added (every node: 0, chunks).
void reduce_level(float* partials, std::size_t stride, int chunks, std::size_t count, int width,
                  int first, int last);

// The whole tree, in place (the partials are overwritten), then sum[i] = the root, for i in
// [0, count); no chunk: sum = 0. sum may not overlap the partials.
void reduce_chunks(float* partials, std::size_t stride, int chunks, std::size_t count, float* sum);

// The chunks rank `rank` of `ranks` computes in data-parallel training: [first, last), where rank
// r's share starts at floor(chunks * r / ranks) rounded down to a multiple of the grain G, the
// largest power of two <= chunks / (8 ranks) (at least 1), and ends where rank r + 1's starts (the
// last at `chunks`). Consecutive ranks get consecutive ranges that cover 0..chunks-1 once; ranks
// beyond the chunks get empty ones. With boundaries on multiples of G, the tree levels below G are
// inside one rank, so a rank's messages per step (sends and receives) stay within
// 2 (ceil(log2 ranks) + 2) however large the batch (tested up to 4096 chunks and 64 ranks; floor
// boundaries alone need up to 2 log2(chunks)), and no share exceeds an even one by more than G
// (an eighth of it) plus one chunk.
// The bits do not depend on the shares.
std::pair<int, int> chunk_share(int chunks, int ranks, int rank);
// The rank whose chunk_share holds chunk `chunk` (0 <= chunk < chunks).
int chunk_owner(int chunks, int ranks, int chunk);

// The tree of reduce_chunks across the ranks of `group`: every rank holds the partials of its
// chunk_share in their slots (stride floats apart, `count` floats each, room for all `chunks`
// slots); afterwards every rank's `sum` holds the root, the bits reduce_chunks gives on one process.
// Level by level: a rank adds the nodes whose halves it holds, sends a node whose left half lies on
// another rank to that rank and receives the right halves it lacks (one exchange per level), on
// `threads` OpenMP threads over blocks of elements; the owner of chunk 0 then broadcasts the root.
// Collective: every rank calls it with the same chunks and count. Returns the bytes this rank sent
// in the exchanges (the broadcast of count floats not included).
std::size_t reduce_across(ProcessGroup& group, float* partials, std::size_t stride, int chunks,
                          std::size_t count, float* sum, int threads);

}  // namespace scratchcnn::fast
