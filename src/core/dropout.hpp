#pragma once
// Dropout's mask, written once for both paths: a counter-based generator, so the mask of an
// element depends only on (seed, step, layer, sample, element) and not on the thread, the chunk
// order, the process of an MPI job or a resume.
#include <cmath>
#include <cstdint>

namespace scratchcnn {

// What keys one training step's masks: Sgd::seed and Sgd::step (sgd.hpp).
struct DropoutKey {
  std::uint64_t seed = 0;
  std::int64_t step = 0;
};

// SplitMix64's finaliser: a bijection of 64-bit words that mixes every input bit into every
// output bit.
inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// An element is dropped when the top 24 bits of its hash fall below rate * 2^24 (rounded): a rate
// of 0.5 drops exactly half of the hash values.
inline std::uint32_t dropout_threshold(float rate) {
  return static_cast<std::uint32_t>(std::llround(double(rate) * 16777216.0));
}

// The scale of a kept element, 1 / (1 - rate) rounded once to T (inverted dropout: the expected
// output equals the input, so evaluation is the identity).
template <class T>
inline T dropout_scale(float rate) {
  return static_cast<T>(1.0 / (1.0 - double(rate)));
}

// The hash of (key, layer, sample): what the elements of one sample of one layer share.
inline std::uint64_t dropout_sample_hash(const DropoutKey& key, std::uint64_t layer,
                                         std::uint64_t sample) {
  std::uint64_t h = mix64(key.seed ^ mix64(static_cast<std::uint64_t>(key.step)));
  h = mix64(h ^ layer);
  return mix64(h ^ sample);
}

// True when element `element` of the sample whose dropout_sample_hash is `sample_hash` is kept.
inline bool dropout_keep_hashed(std::uint64_t sample_hash, std::uint64_t element,
                                std::uint32_t threshold) {
  return static_cast<std::uint32_t>(mix64(sample_hash ^ element) >> 40) >= threshold;
}

// True when element `element` of sample `sample` (its index in the step's batch) of layer `layer`
// is kept: the definition both paths follow.
inline bool dropout_keep(const DropoutKey& key, std::uint64_t layer, std::uint64_t sample,
                         std::uint64_t element, std::uint32_t threshold) {
  return dropout_keep_hashed(dropout_sample_hash(key, layer, sample), element, threshold);
}

}  // namespace scratchcnn
