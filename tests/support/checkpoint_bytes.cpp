#include "checkpoint_bytes.hpp"

namespace scratchcnn::test {

std::uint64_t fnv1a64_of(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint32_t version_of(const std::string& bytes) {
  std::uint32_t v = 0;
  if (bytes.size() >= 12) std::memcpy(&v, bytes.data() + 8, 4);
  return v;
}

std::string resealed(std::string bytes) {
  bytes.resize(bytes.size() - 8);
  put<std::uint64_t>(bytes, fnv1a64_of(bytes));
  return bytes;
}

std::string edited_and_resealed(std::string bytes, const FieldEdit& edit) {
  if (edit.is_float)
    patch<float>(bytes, edit.at, static_cast<float>(edit.value));
  else
    patch<std::uint32_t>(bytes, edit.at, static_cast<std::uint32_t>(edit.value));
  return resealed(bytes);
}

CheckpointSample::CheckpointSample(std::uint64_t seed, const EpochMetrics& first) {
  state.epoch = 2;
  state.options.epochs = 7;
  state.options.batch = 16;
  state.options.lr = 0.05f;
  state.options.momentum = 0.9f;
  state.options.weight_decay = 1e-4f;
  state.options.seed = seed;
  state.data = DataFingerprint{60, 30, 0x1234567890abcdefULL};
  state.velocity = Parameters::he_uniform(spec, 4);
  for (int e = 1; e <= 2; ++e) {
    EpochMetrics m;
    m.epoch = e;
    m.loss = first.loss / e;
    m.train_accuracy = first.train_accuracy * e;
    m.test_accuracy = first.test_accuracy * e;
    m.seconds = first.seconds * e;
    state.history.push_back(m);
  }
}

std::size_t CheckpointSample::epoch_at() const {
  return 8 + 4 + 4 + spec.full_text().size() + 8 + 2 * std::size_t(spec.param_count()) * 4;
}

}  // namespace scratchcnn::test
