#include "fast/layout.hpp"

#include <cstring>
#include <new>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::fast {

namespace {
constexpr std::align_val_t kAlign{64};
}

void AlignedBuffer::Free::operator()(float* p) const { ::operator delete(p, kAlign); }

bool AlignedBuffer::reserve(std::size_t n) {
  if (n <= cap_ && p_) return false;
  const std::size_t cap = align_floats(n == 0 ? 1 : n);
  p_.reset();  // the old buffer goes first: growing never holds both
  cap_ = 0;
  try {
    p_.reset(static_cast<float*>(::operator new(cap * sizeof(float), kAlign)));
  } catch (const std::bad_alloc&) {
    throw Error("out of memory: could not allocate " + format_bytes(cap * sizeof(float)) +
                " for a buffer of the fast path");
  }
  std::memset(p_.get(), 0, cap * sizeof(float));
  cap_ = cap;
  return true;
}

void pack_chunk(const float* src, int valid, std::int64_t features, float* dst) {
  // Blocks of 64 features keep both the reads (one row per sample) and the writes in L1.
  constexpr std::int64_t kBlock = 64;
  for (std::int64_t f0 = 0; f0 < features; f0 += kBlock) {
    const std::int64_t f1 = f0 + kBlock < features ? f0 + kBlock : features;
    for (int s = 0; s < valid; ++s) {
      const float* row = src + s * features;
      for (std::int64_t f = f0; f < f1; ++f) dst[f * kChunk + s] = row[f];
    }
    for (int s = valid; s < kChunk; ++s)
      for (std::int64_t f = f0; f < f1; ++f) dst[f * kChunk + s] = 0.0f;
  }
}

void unpack_chunk(const float* src, int valid, std::int64_t features, float* dst) {
  for (int s = 0; s < valid; ++s) {
    float* row = dst + s * features;
    for (std::int64_t f = 0; f < features; ++f) row[f] = src[f * kChunk + s];
  }
}

void pack_batch(const float* nchw, int n, std::int64_t features, float* chunked) {
  for (int q = 0; q < chunk_count(n); ++q) {
    const int valid = n - q * kChunk < kChunk ? n - q * kChunk : kChunk;
    pack_chunk(nchw + std::int64_t(q) * kChunk * features, valid, features,
               chunked + std::int64_t(q) * kChunk * features);
  }
}

void unpack_batch(const float* chunked, int n, std::int64_t features, float* nchw) {
  for (int q = 0; q < chunk_count(n); ++q) {
    const int valid = n - q * kChunk < kChunk ? n - q * kChunk : kChunk;
    unpack_chunk(chunked + std::int64_t(q) * kChunk * features, valid, features,
                 nchw + std::int64_t(q) * kChunk * features);
  }
}

}  // namespace scratchcnn::fast
