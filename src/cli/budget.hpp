#pragma once
// Threads and the memory budget of a command (budget.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "args.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"

namespace scratchcnn::cli {

// --threads (1..1024), else OMP_NUM_THREADS or all cores capped at 1024 (with a note on stderr
// when capped, unless --quiet); sets it for OpenMP. `--threads auto` is the default: that count
// as the most train's adaptive threads may choose. With `fixed`, *fixed says whether a number was
// given (ThreadPolicy::Fixed) rather than auto.
int read_threads(const Args& a, bool* fixed = nullptr);
// --max-memory in bytes (0: no limit), else default_memory_limit(); a bad value is a UsageError.
std::uint64_t read_max_memory(const Args& a);
// Throws Error unless the networks of `paths` for `spec` at this batch and thread count, plus
// `extra` bytes (data, copies), fit `limit` (0: no check). `what`: "training", "evaluating", ...
void check_command_memory(const Args& a, std::uint64_t limit, const ModelSpec& spec,
                          const std::vector<PathKind>& paths, int batch, int threads,
                          MemoryUse use, std::uint64_t extra, const std::string& what,
                          const NetworkOptions& options = {});

}  // namespace scratchcnn::cli
