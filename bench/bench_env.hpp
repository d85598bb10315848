#pragma once
// Settings of the benchmark binaries taken from the environment, for runs on machines with more
// cores than the development machine (an OpenMP scaling run, docs/benchmarks.md):
//   SCRATCHCNN_BENCH_THREADS=1,2,4,8,16  thread counts of the multi-threaded fast-path cases
//                                        (default 1,2)
//   SCRATCHCNN_BENCH_BATCH=N             batch of those cases: bench_train's steps and epoch
//                                        (default 128) and bench_layers' conv 32->64 (default 64)
// The fast path runs one 16-sample chunk per thread at most, so a batch of B keeps at most B / 16
// threads busy. A malformed value stops the binary with a message naming the variable.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace scratchcnn::bench {

[[noreturn]] inline void bad_env(const char* name, const char* value, const char* want) {
  std::fprintf(stderr, "%s=%s: expected %s\n", name, value, want);
  std::exit(2);
}

inline int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi) bad_env(name, v, "an integer in range");
  return static_cast<int>(x);
}

inline std::vector<int> env_threads(std::vector<int> fallback) {
  const char* name = "SCRATCHCNN_BENCH_THREADS";
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  std::vector<int> out;
  const std::string s = v;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t comma = s.find(',', pos);
    const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    const long x = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || x < 1 || x > 1024)
      bad_env(name, v, "a comma-separated list of thread counts 1..1024");
    out.push_back(static_cast<int>(x));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace scratchcnn::bench
