// The memory budget and thread cap of the command-line tool (budget.hpp): --max-memory, its
// default, and the checks every command makes before it builds a network.
#include <omp.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::cli {

int read_threads(const Args& a, bool* fixed) {
  const bool automatic = !a.has("--threads") || a.str("--threads", "") == "auto";
  int fallback = max_threads();
  if (automatic && omp_get_max_threads() > kMaxThreads) {
    const char* env = std::getenv("OMP_NUM_THREADS");
    if (!a.has("--quiet"))
      std::cerr << "note: " << (env ? "OMP_NUM_THREADS=" + excerpt(env, 20) : std::string("OpenMP"))
                << " asks for " << omp_get_max_threads() << " threads; using " << kMaxThreads
                << ", the most --threads allows\n";
    fallback = kMaxThreads;
  }
  int threads = fallback;
  if (!automatic) {
    const std::string v = a.str("--threads", "");
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError("--threads: " + excerpt(v) + " is neither auto nor a whole number");
    threads = static_cast<int>(a.integer("--threads", fallback, 1, kMaxThreads));
  }
  omp_set_num_threads(threads);
  if (fixed) *fixed = !automatic;
  return threads;
}

std::string memory_limit_note(const Args& a) {
  if (a.has("--max-memory")) return "--max-memory";
  return "the default: 3/4 of " + system_memory().source() + "; --max-memory SIZE sets another, 0 none";
}

std::uint64_t read_max_memory(const Args& a) {
  std::uint64_t limit = default_memory_limit();
  if (a.has("--max-memory")) {
    try {
      limit = parse_memory_size(a.str("--max-memory", ""), "--max-memory");
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  // The readers hold every input file to the same limit before it is read.
  set_input_memory_limit(limit, memory_limit_note(a));
  return limit;
}


void check_command_memory(const Args& a, std::uint64_t limit, const ModelSpec& spec,
                          const std::vector<PathKind>& paths, int batch, int threads,
                          MemoryUse use, std::uint64_t extra, const std::string& what,
                          const NetworkOptions& options) {
  if (limit == 0) return;
  MemoryEstimate e;
  std::string on;
  for (const PathKind p : paths) {
    const MemoryEstimate one = estimate_memory(p, spec, batch, threads, use, options);
    e.parameters += one.parameters;
    e.gradients += one.gradients;
    e.velocities += one.velocities;
    e.partials += one.partials;
    e.workspaces += one.workspaces;
    e.other += one.other;
    if (on.find(path_name(p)) == std::string::npos)
      on += std::string(on.empty() ? "" : " and the ") + path_name(p);
  }
  e.data = extra;
  check_memory(e, limit,
               what + " '" + spec.full_text() + "' on the " + on + " path with batch " +
                   std::to_string(batch) + " and " + std::to_string(threads) + " thread" +
                   (threads == 1 ? "" : "s"),
               memory_limit_note(a));
}

}  // namespace scratchcnn::cli
