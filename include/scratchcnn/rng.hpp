#pragma once
#include <cstdint>

namespace scratchcnn {

// A small, fully specified generator (splitmix64 seeding, xoshiro256** stream), so that a seed gives
// the same numbers with every compiler and standard library. std::uniform_real_distribution is
// deliberately not used: its output is implementation-defined.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Uniform integer in [0, n), n >= 1, without modulo bias.
  std::uint64_t below(std::uint64_t n);

  // The state, for checkpoints that must resume a run exactly.
  std::uint64_t state[4];
};

// Derives an independent seed for a named purpose ("init", "shuffle", "split") from a user seed.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t purpose);

inline constexpr std::uint64_t kSeedInit = 0x696e6974ULL;      // "init"
inline constexpr std::uint64_t kSeedShuffle = 0x73687566ULL;   // "shuf"
inline constexpr std::uint64_t kSeedSplit = 0x73706c74ULL;     // "splt"
inline constexpr std::uint64_t kSeedValidation = 0x76616c69ULL;  // "vali"
inline constexpr std::uint64_t kSeedDropout = 0x64726f70ULL;     // "drop"

}  // namespace scratchcnn
