#pragma once
// Memory budget: how much a network needs before it is built, what the machine allows, and the
// thread count every parallel region of the library is capped to.
#include <cstdint>
#include <memory>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn {

// The most threads the library uses, whatever the source (OMP_NUM_THREADS, omp_set_num_threads,
// the CLI's --threads): the same cap as the --threads flag.
inline constexpr int kMaxThreads = 1024;
// The thread count of the library's parallel regions: omp_get_max_threads() clamped to
// 1..kMaxThreads (a region over fewer chunks than that uses fewer).
int max_threads();

enum class MemoryUse {
  Training,   // sgd_step / gradients at the batch size: everything below
  Inference,  // predict only: no per-chunk partials, no per-sample gradient lists
};

// The peak heap memory of one network, by what it is for, in bytes. Reference path: per-neuron
// Node objects, each with its weights, velocities, the input it remembers and one gradient entry per
// sample of the batch, with the allocator's per-allocation overhead. Fast path: four
// parameter-sized arrays, one partial-gradient array per 16-sample chunk, one workspace per thread.
struct MemoryEstimate {
  std::uint64_t parameters = 0;   // weights and biases: the network's own copy
  std::uint64_t gradients = 0;    // mean gradients (fast); per-sample gradient lists (reference)
  std::uint64_t velocities = 0;   // two per parameter: a velocity and Adam's second moment
  std::uint64_t partials = 0;     // per-chunk partial gradient sums (fast, training)
  std::uint64_t workspaces = 0;   // activations, their gradients, kernel scratch (fast: per
                                  // thread); remembered inputs and per-sample tensors (reference)
  std::uint64_t other = 0;        // node objects, loss buffers
  std::uint64_t data = 0;         // what the caller holds besides the network (data sets, copies)
  std::uint64_t total() const;
  // "5.8 GiB (parameters 4.6 GiB, velocities 4.6 GiB, ...)": the total and every nonzero part.
  std::string str() const;
};

// The estimate for `batch` samples per step (or per predict call) on `threads` threads (0:
// max_threads()). Exact for the fast path's buffers; the reference path's allocator overhead is
// estimated from above. Saturates instead of overflowing for absurd sizes. `options`: the
// network's (the fast path's scratch depends on the convolution algorithm; the reference path
// ignores them).
MemoryEstimate estimate_memory(PathKind path, const ModelSpec& spec, int batch, int threads = 0,
                               MemoryUse use = MemoryUse::Training,
                               const NetworkOptions& options = {});

// Bytes of a data set held in memory: its images (floats) and labels.
std::uint64_t dataset_bytes(const data::Dataset& d);
// Bytes of one Parameters object of the model.
std::uint64_t parameters_bytes(const ModelSpec& spec);

// "512 MiB", "4.6 GiB", "900 B": binary units, 3 significant digits.
std::string format_bytes(std::uint64_t bytes);
// A size as a user writes it: a number (bytes) with an optional binary suffix K, M, G or T (also
// KB/KiB, ...; case-insensitive; fractions allowed: "1.5G"), or 0 for no limit. Throws Error
// naming `what` otherwise, or when it does not fit 64 bits.
std::uint64_t parse_memory_size(const std::string& text, const std::string& what);

// What this process may use: physical memory, and the limits below it (0 when not set).
struct SystemMemory {
  std::uint64_t physical = 0;  // sysconf(_SC_PHYS_PAGES) * page size
  std::uint64_t cgroup = 0;    // cgroup v2 memory.max (v1 memory.limit_in_bytes) of this process
  std::uint64_t rlimit = 0;    // the lower of RLIMIT_AS and RLIMIT_DATA
  std::uint64_t usable() const;  // the smallest of those that are set
  // "23.4 GiB physical memory" or "a cgroup limit of 2 GiB", whichever usable() is.
  std::string source() const;
};
SystemMemory system_memory();
// The default budget: 3/4 of system_memory().usable() (the rest for the data sets' file buffers,
// the OpenMP threads' stacks, the C++ runtime and the rest of the system). 0 when unknown.
std::uint64_t default_memory_limit();

// The most memory one input file may fill. Every reader checks what the file's header promises
// (the values of a parameter file or checkpoint, the pixels of IDX images as floats, the labels)
// and, for optdigits rows, what it has read so far, against it before reading on, so a small file
// that claims a huge payload costs nothing. Default: default_memory_limit(); the tool sets it to
// --max-memory. 0: no limit. `source` names where the limit comes from, for messages.
std::uint64_t input_memory_limit();
void set_input_memory_limit(std::uint64_t bytes, const std::string& source);
// Throws Error "<where>: <what> need <bytes>, more than the memory limit of <limit> (<source>)"
// when bytes exceed input_memory_limit().
void check_input_size(const std::string& where, const std::string& what, std::uint64_t bytes);

// Throws Error when limit > 0 and e.total() > limit: "<what> needs an estimated <e.str()>, more
// than the memory limit of <limit> (<note>); use a smaller model or batch".
void check_memory(const MemoryEstimate& e, std::uint64_t limit, const std::string& what,
                  const std::string& note = {});

// A budget for make_network: the network must fit `limit` (0: no check) at `batch` samples per
// step on `threads` threads (0: max_threads()), together with `extra` bytes the caller holds.
struct MemoryBudget {
  std::uint64_t limit = 0;
  int batch = 1;
  int threads = 0;
  MemoryUse use = MemoryUse::Training;
  std::uint64_t extra = 0;
  std::string note;  // where the limit comes from, for the message (e.g. "--max-memory")
};

// make_network (network.hpp) that first checks the budget (estimated with `options`) and throws Error (the estimate, its
// parts and the limit) rather than start allocating. Like make_network, it turns a failed
// allocation into an Error naming the size asked for.
std::unique_ptr<Network> make_network(PathKind path, const ModelSpec& spec, const Parameters& p,
                                      const MemoryBudget& budget,
                                      const NetworkOptions& options = {});

}  // namespace scratchcnn
