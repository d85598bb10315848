// The checkpoint file: round trip, deterministic bytes, refusals, and reading its parameters as
// a parameter file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "checkpoint_bytes.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using test::error_of;
using test::has;

namespace {

using test::resealed;

// Seed 12345678901 (more than 32 bits), history 1.5 / e, 0.3 e, 0.25 e, 17 e seconds (not stored).
struct Sample : test::CheckpointSample {
  Sample() : CheckpointSample(12345678901ULL, EpochMetrics{.loss = 1.5, .train_accuracy = 0.3,
                                                           .test_accuracy = 0.25, .seconds = 17.0}) {}
};

}  // namespace

TEST(Checkpoint, RoundTripsAndItsBytesDependOnlyOnTheState) {
  const Sample s;
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  EXPECT_EQ(bytes.substr(0, 8), "SCNNCKPT");
  Sample other;
  for (auto& m : other.state.history) m.seconds = 99;  // seconds are not training state
  EXPECT_EQ(serialize_checkpoint(other.spec, other.params, other.state), bytes);

  const Checkpoint c = deserialize_checkpoint(bytes, "c.bin");
  EXPECT_EQ(c.spec.full_text(), s.spec.full_text());
  EXPECT_EQ(c.params, s.params);
  EXPECT_EQ(c.state.velocity, s.state.velocity);
  EXPECT_EQ(c.state.epoch, 2);
  EXPECT_EQ(c.state.options.epochs, 7);
  EXPECT_EQ(c.state.options.first_epoch, 3);
  EXPECT_EQ(c.state.options.batch, 16);
  EXPECT_EQ(c.state.options.lr, 0.05f);
  EXPECT_EQ(c.state.options.momentum, 0.9f);
  EXPECT_EQ(c.state.options.weight_decay, 1e-4f);
  EXPECT_EQ(c.state.options.seed, 12345678901ULL);
  EXPECT_EQ(c.state.data, s.state.data);
  ASSERT_EQ(c.state.history.size(), 2u);
  EXPECT_EQ(c.state.history[1].epoch, 2);
  EXPECT_EQ(c.state.history[1].loss, 0.75);
  EXPECT_EQ(c.state.history[1].test_accuracy, 0.5);
  EXPECT_TRUE(std::isnan(c.state.history[1].seconds));
  // Written again from what was read: the same bytes.
  EXPECT_EQ(serialize_checkpoint(c.spec, c.params, c.state), bytes);

  // The parameter readers take the parameters out of a checkpoint.
  EXPECT_EQ(parameter_file_model(bytes, "c.bin").full_text(), s.spec.full_text());
  EXPECT_EQ(deserialize_parameters(bytes, s.spec, "c.bin"), s.params);

  const std::string dir = test::temp_dir("ckpt");
  save_checkpoint(dir + "/c.bin", s.spec, s.params, s.state);
  EXPECT_EQ(read_file(dir + "/c.bin"), bytes);
  EXPECT_EQ(load_checkpoint(dir + "/c.bin").params, s.params);
  EXPECT_EQ(load_parameters(dir + "/c.bin", s.spec), s.params);
}

TEST(Checkpoint, RefusesTruncatedCorruptedNewerAndParameterFiles) {
  const Sample s;
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    const std::string msg = error_of([&] { deserialize_checkpoint(bytes.substr(0, cut), "c.bin"); });
    ASSERT_EQ(msg.rfind("c.bin: ", 0), 0u) << "cut " << cut << ": " << msg;
    ASSERT_TRUE(has(msg, "truncated") || has(msg, "corrupted") || has(msg, "bad magic"))
        << "cut " << cut << ": " << msg;
  }
  for (std::size_t at = 0; at < bytes.size(); at += 7) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x04);
    const std::string msg = error_of([&] { deserialize_checkpoint(flipped, "c.bin"); });
    ASSERT_EQ(msg.rfind("c.bin: ", 0), 0u) << "byte " << at << ": " << msg;
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x10);
  EXPECT_TRUE(has(error_of([&] { deserialize_checkpoint(flipped, "c.bin"); }), "checksum"));

  std::string newer = bytes;
  newer[8] = char(kCheckpointFileVersion + 1);
  const std::string msg = error_of([&] { deserialize_checkpoint(resealed(newer), "c.bin"); });
  EXPECT_TRUE(has(msg, "c.bin: checkpoint version " + std::to_string(kCheckpointFileVersion + 1) +
                           " is newer than this scratchcnn reads (" +
                           std::to_string(kCheckpointFileVersion) + ")"))
      << msg;
  // A version 2 file relabelled 5 lacks the second moments that version holds.
  std::string relabelled = bytes;
  relabelled[8] = 5;
  EXPECT_TRUE(has(error_of([&] { deserialize_checkpoint(resealed(relabelled), "c.bin"); }),
                  "corrupted checkpoint (ends inside the second moments)"));

  // Checksummed but inconsistent: one epoch of metrics too few for the epoch count.
  std::string short_history = bytes;
  const std::size_t history_count_at = bytes.size() - 8 - 2 * 24 - 4;
  short_history[history_count_at] = 1;
  short_history.erase(bytes.size() - 8 - 24, 24);
  EXPECT_TRUE(has(error_of([&] { deserialize_checkpoint(resealed(short_history), "c.bin"); }),
                  "corrupted checkpoint (1 epochs of metrics for 2 completed epochs)"));

  const std::string params = serialize_parameters(s.spec, s.params);
  EXPECT_TRUE(has(error_of([&] { deserialize_checkpoint(params, "p.bin"); }),
                  "p.bin: a parameter file, not a checkpoint"));
  EXPECT_TRUE(has(error_of([&] { deserialize_checkpoint("hello", "x"); }), "x: not a scratchcnn checkpoint"));
  // Another model's parameters are refused by the parameter reader, naming both models.
  const ModelSpec other = model_from_name("seed");
  EXPECT_TRUE(has(error_of([&] { deserialize_parameters(bytes, other, "c.bin"); }),
                  "c.bin: made for model '1x8x8: conv(1,2,k=3,pad=1) relu maxpool(2)"));
  EXPECT_TRUE(has(error_of([&] { load_checkpoint("/nonexistent/c.bin"); }), "/nonexistent/c.bin"));
}

TEST(Checkpoint, AFailedSaveLeavesThePreviousFile) {
  const Sample s;
  const std::string dir = test::temp_dir("ckpt-fail");
  save_checkpoint(dir + "/c.bin", s.spec, s.params, s.state);
  const std::string before = read_file(dir + "/c.bin");
  TrainingState bad = s.state;
  bad.history.pop_back();  // refused before anything is written
  EXPECT_THROW(save_checkpoint(dir + "/c.bin", s.spec, s.params, bad), Error);
  EXPECT_THROW(save_checkpoint(dir + "/c.bin", model_from_name("seed"), s.params, s.state), Error);
  EXPECT_EQ(read_file(dir + "/c.bin"), before);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string(), "c.bin");
}
