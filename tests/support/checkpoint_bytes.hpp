#pragma once
// Checkpoint files built and edited byte by byte, from the documented layout
// (docs/checkpoints.md), without the code under test: a sample training state, little-endian
// fields, and re-sealing (recomputing the trailing FNV-1a 64 checksum, as anyone editing a
// checkpoint can).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::test {

// FNV-1a 64, written from its definition.
std::uint64_t fnv1a64_of(const std::string& s);

// Appends v in the machine's (little-endian) byte order.
template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

// Overwrites the field at byte `at` (before the checksum) with v.
template <class T>
void patch(std::string& bytes, std::size_t at, T v) {
  ASSERT_LE(at + sizeof(T), bytes.size() - 8);
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}

// The bytes with their trailing checksum recomputed.
std::string resealed(std::string bytes);

// The u32 version after the 8-byte magic of a checkpoint or parameter file (0 if too short).
std::uint32_t version_of(const std::string& bytes);

// One u32 or f32 field set to `value` (converted to the field's type).
struct FieldEdit {
  std::size_t at;
  bool is_float;
  double value;
};
// The bytes with the edit made, re-sealed.
std::string edited_and_resealed(std::string bytes, const FieldEdit& edit);

// A small conv model's checkpoint contents: He-uniform parameters (seed 3) and velocities
// (seed 4); epoch 2 of 7, batch 16, lr 0.05, momentum 0.9, weight decay 1e-4, the given run
// seed, data fingerprint {60, 30, 0x1234567890abcdef}; a history of epochs e = 1, 2 with
// loss = first.loss / e, accuracies = first.train_accuracy * e and first.test_accuracy * e,
// seconds = first.seconds * e.
struct CheckpointSample {
  ModelSpec spec = model_from_name("conv(1,2,k=3,pad=1) relu maxpool(2) flatten dense(32,10)");
  Parameters params = Parameters::he_uniform(spec, 3);
  TrainingState state;
  CheckpointSample(std::uint64_t seed, const EpochMetrics& first);
  // Offset of the u32 epoch, from the documented layout: magic, version, text length, text,
  // value count, then the parameters and as many velocities.
  std::size_t epoch_at() const;
};

}  // namespace scratchcnn::test
