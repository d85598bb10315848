#pragma once
#include <cstddef>
#include <memory>

#include "fast/layer.hpp"
#include "scratchcnn/network.hpp"

namespace scratchcnn::fast {

struct Options {
  ConvAlgo conv = ConvAlgo::Auto;  // every convolution of the model
  bool fuse_relu = true;           // a ReLU right after a conv or dense layer runs inside it
  // A parallel region gets at most one thread per this many FLOPs of work (and per chunk), so
  // that steps too small to pay for a fork and a barrier run on one thread. 0: no limit (every
  // thread OpenMP allows, up to one per chunk). Results are the same either way.
  double flops_per_thread = 1e6;
  // Data-parallel training (NetworkOptions::group): a group of more than one process makes each
  // training step compute only this rank's chunk_share (reduce.hpp) and add the partials across
  // ranks in the same tree. Null: this process alone.
  std::shared_ptr<ProcessGroup> group = nullptr;
};
// The fast options of the public NetworkOptions (the rest at their defaults).
inline Options options_of(const NetworkOptions& o) {
  Options f;
  f.conv = o.conv;
  f.group = o.group;
  return f;
}

// Threads of a parallel region over `chunks` chunks doing `flops` of work when OpenMP allows
// `most`: at most one per chunk and one per `flops_per_thread` (no such limit when it is 0), at
// least 1. FastNetwork runs its steps on this many; step_threads (network.hpp) reports it.
int region_threads(int most, int chunks, double flops, double flops_per_thread);

// The fast path behind the Network interface.
//
// A step runs in one OpenMP parallel region: the batch is cut into chunks of kChunk samples
// (layout.hpp); each chunk runs forward, softmax cross-entropy and backward on one thread and
// writes its own partial parameter-gradient sums; after a barrier the partials are added in the
// fixed pairwise tree of reduce.hpp, mean = sum / float(n), and the Sgd update of network.hpp is
// applied (not fused). With a group of R > 1 processes (Options::group), rank r computes only the
// chunks chunk_share(C, R, r), the per-sample losses are gathered, the tree's nodes that span two
// ranks are added after one exchange per level, and the root is broadcast: every rank applies
// the same update to the same bits as one process. Chunk
// boundaries do not depend on the thread count, so parameters, velocities, gradients, losses and
// logits are bitwise the same at any OMP_NUM_THREADS and from run to run. After the first step of
// the largest batch size, a step allocates nothing.
std::unique_ptr<scratchcnn::Network> make_network(const ModelSpec& spec, const Parameters& p,
                                                  const Options& options = {});

// The sizes a fast network of this model allocates (memory.hpp turns them into an estimate):
// three parameter-sized arrays (parameters, mean gradients, velocities), per training step one
// more per chunk (partial gradient sums), and one workspace per thread (activations, their
// gradients and kernel scratch of one chunk).
struct Footprint {
  std::size_t parameter_floats = 0;  // one parameter-sized array (aligned layout)
  std::size_t workspace_floats = 0;  // one thread's workspace
};
Footprint footprint(const ModelSpec& spec, const Options& options = {});

}  // namespace scratchcnn::fast
