#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace scratchcnn::fast {

// The fast path's activation layout ("chunked"). A batch of n samples is cut into chunks of
// kChunk samples, the last one zero-padded. Inside a chunk, a tensor of F = C*H*W features per
// sample is stored feature-major with the chunk's samples innermost:
//   sample s, feature f  ->  [((s / kChunk) * F + f) * kChunk + s % kChunk]
// So a (C, H, W) activation of one chunk is a (C, H, W, kChunk) array and every kernel
// vectorises across samples: shapes with one or two channels and 8x8 images still fill whole
// vectors, and a flatten is the identity on memory (channel-major order).
// kChunk is a constant, never a function of the thread count or the instruction set: chunks are
// the unit of the deterministic gradient reduction (per-chunk partial sums, added in
// one fixed tree over chunk indices, reduce.hpp).
inline constexpr int kChunk = 16;

inline int chunk_count(int n) { return n <= 0 ? 0 : (n - 1) / kChunk + 1; }  // no overflow at INT_MAX

// Floats a chunked batch of n samples with `features` values each occupies.
inline std::size_t chunked_size(int n, std::int64_t features) {
  return std::size_t(chunk_count(n)) * std::size_t(features) * kChunk;
}

// nchw: (n, features) sample-major -> chunked: (chunk_count(n), features, kChunk), padding lanes 0.
void pack_batch(const float* nchw, int n, std::int64_t features, float* chunked);
// chunked: (chunk_count(n), features, kChunk) -> nchw: (n, features); padding lanes are dropped.
void unpack_batch(const float* chunked, int n, std::int64_t features, float* nchw);

// One chunk: src holds `valid` samples (valid <= kChunk), each `features` floats, sample-major;
// dst: (features, kChunk), lanes >= valid set to 0.
void pack_chunk(const float* src, int valid, std::int64_t features, float* dst);
// One chunk: src (features, kChunk) -> dst: `valid` samples of `features` floats, sample-major.
void unpack_chunk(const float* src, int valid, std::int64_t features, float* dst);

// A 64-byte aligned float array that only grows. Memory is zero-filled when it is (re)allocated;
// growing does not keep the old contents.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n) { reserve(n); }
  // Room for at least n floats. Returns true when it had to reallocate.
  bool reserve(std::size_t n);
  float* data() { return p_.get(); }
  const float* data() const { return p_.get(); }
  std::size_t capacity() const { return cap_; }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> p_;
  std::size_t cap_ = 0;
};

// Rounds a float count up so that consecutive sub-buffers stay 64-byte aligned.
inline std::size_t align_floats(std::size_t n) { return (n + 15) / 16 * 16; }

}  // namespace scratchcnn::fast
