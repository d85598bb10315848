#pragma once
// Data-parallel training over several processes (docs/scale-out.md). A ProcessGroup is the few
// collective operations the fast path's training step needs; the MPI implementation is built into
// the command-line tool when SCRATCHCNN_MPI is on, and a library user may supply their own.
//
// The step is the same computation on any number of processes: rank r of R computes the chunks
// fast::chunk_share(C, R, r) of a batch of C chunks (16 samples each), and the per-chunk partial
// gradient sums are added in one fixed pairwise tree over chunk indices (fast/reduce.hpp). A rank
// adds the tree's nodes whose leaves it holds and receives the others from the rank that holds
// them; the root is broadcast. No floating-point value is ever added by the transport, so the
// parameters after a step are the same bits on 1, 2, 3 or 64 processes.
#include <cstddef>
#include <vector>

namespace scratchcnn {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;  // 0..size()-1
  virtual int size() const = 0;  // >= 1
  // One step of a pairwise exchange: sends `count` floats at `send` to rank `to` and receives
  // `count` floats from rank `from` into `recv`. A negative rank skips that half. Every rank of
  // the group calls it the same number of times, in the same order. The send and the receive of
  // one call may pair with different ranks (rank 1 sends to 0 while it receives from 2), so an
  // implementation must not hold the send back until its receive completes (MPI_Sendrecv does
  // not); the fast path calls it once per level of its reduction tree.
  virtual void exchange(int to, const float* send, int from, float* recv, std::size_t count) = 0;
  // Copies `bytes` bytes at `data` on rank `root` to `data` on every other rank.
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  // In place: rank r contributes bytes [offsets[r], offsets[r + 1]) of `data`; afterwards every
  // rank holds every rank's bytes. offsets has size() + 1 entries, the same on every rank.
  virtual void allgather(void* data, const std::vector<std::size_t>& offsets) = 0;
  // True when every rank passes true (a logical and: no floating-point arithmetic).
  virtual bool all_true(bool ok) = 0;
};

}  // namespace scratchcnn
