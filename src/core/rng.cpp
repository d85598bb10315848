#include "scratchcnn/rng.hpp"

namespace scratchcnn {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& s : state) s = splitmix64(x);
}

std::uint64_t Rng::next_u64() {
  // xoshiro256** (Blackman & Vigna), written from its published definition.
  const std::uint64_t result = rotl(state[1] * 5, 7) * 9;
  const std::uint64_t t = state[1] << 17;
  state[2] ^= state[0];
  state[3] ^= state[1];
  state[1] ^= state[2];
  state[0] ^= state[3];
  state[2] ^= t;
  state[3] = rotl(state[3], 45);
  return result;
}

double Rng::uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }

std::uint64_t Rng::below(std::uint64_t n) {
  // Rejection sampling on the top bits: unbiased and exactly specified.
  const std::uint64_t limit = ~std::uint64_t(0) - (~std::uint64_t(0) % n);
  for (;;) {
    const std::uint64_t r = next_u64();
    if (r < limit) return r % n;
  }
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t purpose) {
  std::uint64_t x = seed ^ (purpose * 0xd1342543de82ef95ULL);
  splitmix64(x);
  return splitmix64(x);
}

}  // namespace scratchcnn
