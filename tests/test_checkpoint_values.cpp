// What a checkpoint may hold: its options are checked with the flags' rules (a checksum is no
// authentication, so a re-sealed file with out-of-range values must be refused naming the field),
// version 1 files still load, version 2 records the bit class of the instruction-set level (older
// builds: the level), and a resume in another bit class warns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/rng.hpp"
#include "scratchcnn/trainer.hpp"
#include "checkpoint_bytes.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using test::cli;
using test::CliResult;
using test::error_of;
using test::has;
using test::EnvVar;
using test::slurp;

namespace {

using test::edited_and_resealed;
using test::FieldEdit;
using test::patch;
using test::put;
using test::resealed;

// Seed 99, level avx2, history 1 / e, 0.25 e, 0.125 e.
struct Sample : test::CheckpointSample {
  Sample()
      : CheckpointSample(99, EpochMetrics{.loss = 1.0, .train_accuracy = 0.25, .test_accuracy = 0.125}) {
    state.isa = "avx2";
  }
};

// The documented version 1 layout (docs/checkpoints.md), byte by byte: no level.
std::string version1(const Sample& s) {
  std::string b("SCNNCKPT", 8);
  put<std::uint32_t>(b, 1);
  const std::string text = s.spec.full_text();
  put<std::uint32_t>(b, static_cast<std::uint32_t>(text.size()));
  b += text;
  put<std::uint64_t>(b, static_cast<std::uint64_t>(s.spec.param_count()));
  for (const Parameters* p : {&s.params, &s.state.velocity})
    for (const auto& l : p->layers) {
      for (float v : l.weights) put<float>(b, v);
      for (float v : l.bias) put<float>(b, v);
    }
  const TrainOptions& o = s.state.options;
  put<std::uint32_t>(b, static_cast<std::uint32_t>(s.state.epoch));
  put<std::uint32_t>(b, static_cast<std::uint32_t>(o.epochs));
  put<std::uint32_t>(b, static_cast<std::uint32_t>(o.batch));
  put<float>(b, o.lr);
  put<float>(b, o.momentum);
  put<float>(b, o.weight_decay);
  put<std::uint64_t>(b, o.seed);
  put<std::uint32_t>(b, s.state.data.train);
  put<std::uint32_t>(b, s.state.data.test);
  put<std::uint64_t>(b, s.state.data.labels);
  put<std::uint32_t>(b, static_cast<std::uint32_t>(s.state.history.size()));
  for (const auto& m : s.state.history) {
    put<double>(b, m.loss);
    put<double>(b, m.train_accuracy);
    put<double>(b, m.test_accuracy);
  }
  put<std::uint64_t>(b, test::fnv1a64_of(b));
  return b;
}


// A small optdigits folder (60 training, 30 test rows) in a fresh temporary folder.
std::string tiny_data() { return test::learnable_optdigits("ckv-data", 11); }

void write(const std::string& path, const std::string& bytes) { test::write_file(path, bytes); }

}  // namespace

namespace {

// Where the sample's options lie in its file.
struct OptionOffsets {
  std::size_t epoch, epochs, batch, lr, momentum, decay;
};
OptionOffsets option_offsets(const Sample& s) {
  const std::size_t at = s.epoch_at();
  return {at, at + 4, at + 8, at + 12, at + 16, at + 20};
}

struct RangeCase {
  FieldEdit edit;
  std::string message;
};

std::vector<RangeCase> out_of_range_cases(const OptionOffsets& o) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  return {
      {{o.batch, false, 0}, "c.bin: batch size 0 is outside 1..1048576"},
      {{o.batch, false, 2147483647.0}, "c.bin: batch size 2147483647 is outside 1..1048576"},
      {{o.batch, false, 4294967295.0}, "c.bin: batch size 4294967295 is outside 1..1048576"},
      {{o.batch, false, 1048577}, "c.bin: batch size 1048577 is outside 1..1048576"},
      {{o.epochs, false, 2147483648.0}, "c.bin: epochs 2147483648 is outside 0..1000000"},
      {{o.epochs, false, 1000001}, "c.bin: epochs 1000001 is outside 0..1000000"},
      {{o.epoch, false, 8}, "c.bin: epochs completed 8 is outside 0..epochs (7)"},
      {{o.epochs, false, 1}, "c.bin: epochs completed 2 is outside 0..epochs (1)"},
      {{o.lr, true, -1}, "c.bin: learning rate -1 is outside 0..3e+38"},
      {{o.lr, true, nan}, "c.bin: learning rate nan is not a finite number"},
      {{o.lr, true, inf}, "c.bin: learning rate inf is not a finite number"},
      {{o.lr, true, 3.2e38}, "c.bin: learning rate 3.19999998e+38 is outside 0..3e+38"},
      {{o.momentum, true, 2}, "c.bin: momentum 2 is outside 0..1"},
      {{o.momentum, true, -0.5}, "c.bin: momentum -0.5 is outside 0..1"},
      {{o.decay, true, -0.5}, "c.bin: weight decay -0.5 is outside 0..1"},
      {{o.decay, true, nan}, "c.bin: weight decay nan is not a finite number"},
      {{o.decay, true, -nan}, "c.bin: weight decay nan is not a finite number"},
      {{o.momentum, true, -inf}, "c.bin: momentum -inf is not a finite number"},
  };
}

// The edges of the ranges are values the flags accept: they load.
void expect_range_edges_load(const std::string& good, const OptionOffsets& o) {
  std::string edge = good;
  patch<std::uint32_t>(edge, o.epochs, 1000000);
  patch<std::uint32_t>(edge, o.batch, 1u << 20);
  patch<float>(edge, o.lr, 0);
  patch<float>(edge, o.momentum, 1);
  patch<float>(edge, o.decay, 1);
  const Checkpoint c = deserialize_checkpoint(resealed(edge), "c.bin");
  EXPECT_EQ(c.state.options.epochs, 1000000);
  EXPECT_EQ(c.state.options.batch, 1 << 20);
  EXPECT_EQ(c.state.options.momentum, 1.0f);
}

}  // namespace

// Each out-of-range value, re-sealed so that the checksum holds, is refused naming the file and
// the field, with the range the flag gives.
TEST(CheckpointValues, ResealedOutOfRangeOptionsAreRefusedNamingTheField) {
  const Sample s;
  const std::string good = serialize_checkpoint(s.spec, s.params, s.state);
  const OptionOffsets o = option_offsets(s);
  // The offsets are right: the good file holds the sample's values there.
  std::uint32_t u = 0;
  std::memcpy(&u, good.data() + o.batch, 4);
  ASSERT_EQ(u, 16u);
  float f = 0;
  std::memcpy(&f, good.data() + o.momentum, 4);
  ASSERT_EQ(f, 0.9f);
  for (const auto& c : out_of_range_cases(o)) {
    const std::string bad = edited_and_resealed(good, c.edit);
    EXPECT_EQ(error_of([&] { deserialize_checkpoint(bad, "c.bin"); }), c.message);
  }
  expect_range_edges_load(good, o);
}

// The writer refuses what the reader would: no file that cannot be read back.
TEST(CheckpointValues, TheWriterRefusesOutOfRangeOptionsAndLevels) {
  Sample s;
  s.state.options.batch = 0;
  EXPECT_EQ(error_of([&] { serialize_checkpoint(s.spec, s.params, s.state); }),
            "checkpoint: batch size 0 is outside 1..1048576");
  s = Sample();
  s.state.options.lr = -1;
  EXPECT_EQ(error_of([&] { serialize_checkpoint(s.spec, s.params, s.state); }),
            "checkpoint: learning rate -1 is outside 0..3e+38");
  s = Sample();
  s.state.options.epochs = 1;
  EXPECT_EQ(error_of([&] { serialize_checkpoint(s.spec, s.params, s.state); }),
            "checkpoint: epochs completed 2 is outside 0..epochs (1)");
  for (const char* isa : {"AVX2", "avx2\n", "a b", "abcdefghijklmnopqrstuvwxyz0123456"}) {
    s = Sample();
    s.state.isa = isa;
    EXPECT_TRUE(has(error_of([&] { serialize_checkpoint(s.spec, s.params, s.state); }),
                    "instruction-set level"))
        << isa;
  }
}

// train() applies the same rules to a library caller's options.
TEST(CheckpointValues, TrainValidatesItsOptions) {
  const ModelSpec spec = model_from_name("seed");
  auto net = make_network(PathKind::Reference, spec, Parameters::he_uniform(spec, 1));
  Rng rng(3);
  data::Dataset d;
  d.images = test::random_images(rng, 12, spec.input);
  d.labels = test::random_labels(rng, 12, 10);
  d.source = "random";
  const auto refused = [&](TrainOptions o) {
    return error_of([&] { train(*net, d, d, o); });
  };
  TrainOptions o;
  o.epochs = 1;
  o.batch = 0;
  EXPECT_EQ(refused(o), "training options: batch size 0 is outside 1..1048576");
  o.batch = (1 << 20) + 1;
  EXPECT_EQ(refused(o), "training options: batch size 1048577 is outside 1..1048576");
  o.batch = 4;
  o.momentum = 2;
  EXPECT_EQ(refused(o), "training options: momentum 2 is outside 0..1");
  o.momentum = 0;
  o.weight_decay = -0.5f;
  EXPECT_EQ(refused(o), "training options: weight decay -0.5 is outside 0..1");
  o.weight_decay = 0;
  o.lr = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(refused(o), "training options: learning rate nan is not a finite number");
  o.lr = 0.1f;
  o.epochs = -1;
  EXPECT_EQ(refused(o), "training options: epochs -1 is outside 0..1000000");
  o.epochs = 1;
  o.max_loss = -1;
  EXPECT_EQ(refused(o), "training options: max_loss -1 is outside 0..1e+30");
  o.max_loss = 0;
  o.first_epoch = 0;
  EXPECT_EQ(refused(o), "training options: first epoch 0 is outside 1..1000001");
  o.first_epoch = 1;
  // The edge of the range trains (a batch above the training set's size is one full batch).
  o.batch = 1 << 20;
  EXPECT_EQ(train(*net, d, d, o).size(), 1u);
}

// A version 1 checkpoint, written here from the documented layout, still loads (level unknown),
// and is written back as version 2.
TEST(CheckpointValues, Version1FilesStillLoad) {
  const Sample s;
  const std::string v1 = version1(s);
  const Checkpoint c = deserialize_checkpoint(v1, "v1.bin");
  EXPECT_EQ(c.state.isa, "");
  EXPECT_EQ(c.params, s.params);
  EXPECT_EQ(c.state.velocity, s.state.velocity);
  EXPECT_EQ(c.state.epoch, 2);
  EXPECT_EQ(c.state.options.epochs, 7);
  EXPECT_EQ(c.state.options.batch, 16);
  EXPECT_EQ(c.state.options.momentum, 0.9f);
  EXPECT_EQ(c.state.options.seed, 99u);
  EXPECT_EQ(c.state.data, s.state.data);
  ASSERT_EQ(c.state.history.size(), 2u);
  EXPECT_EQ(c.state.history[1].test_accuracy, 0.25);
  EXPECT_EQ(deserialize_parameters(v1, s.spec, "v1.bin"), s.params);
  // Its options are checked too.
  std::string bad = v1;
  patch<std::uint32_t>(bad, s.epoch_at() + 8, 0);
  EXPECT_EQ(error_of([&] { deserialize_checkpoint(resealed(bad), "v1.bin"); }),
            "v1.bin: batch size 0 is outside 1..1048576");

  // Written again: version 2, an empty level (4 zero bytes before the history count), the rest
  // the same.
  const std::string v2 = serialize_checkpoint(c.spec, c.params, c.state);
  std::string expect = v1.substr(0, v1.size() - 8);
  expect[8] = 2;
  const std::size_t history_at = expect.size() - 4 - 2 * 24;
  expect.insert(history_at, std::string(4, '\0'));
  put<std::uint64_t>(expect, test::fnv1a64_of(expect));
  EXPECT_EQ(v2, expect);
}

// Version 2 stores the level as documented and reads it back; a malformed one is refused.
TEST(CheckpointValues, Version2RoundTripsTheLevel) {
  Sample s;
  s.state.isa = "avx512f";
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  std::uint32_t version = 0;
  std::memcpy(&version, bytes.data() + 8, 4);
  EXPECT_EQ(version, 2u);
  // Options (3 u32, 3 f32, u64 seed), data fingerprint (2 u32, u64), then the level.
  const std::size_t level_at = s.epoch_at() + 12 + 12 + 8 + 8 + 8;
  std::uint32_t length = 0;
  std::memcpy(&length, bytes.data() + level_at, 4);
  EXPECT_EQ(length, 7u);
  EXPECT_EQ(bytes.substr(level_at + 4, 7), "avx512f");
  EXPECT_EQ(bytes.size(), level_at + 4 + 7 + 4 + 2 * 24 + 8);
  EXPECT_EQ(deserialize_checkpoint(bytes, "c.bin").state.isa, "avx512f");
  s.state.isa = "reference";
  EXPECT_EQ(deserialize_checkpoint(serialize_checkpoint(s.spec, s.params, s.state), "c.bin").state.isa,
            "reference");

  std::string upper = bytes;
  upper[level_at + 4] = 'A';
  EXPECT_EQ(error_of([&] { deserialize_checkpoint(resealed(upper), "c.bin"); }),
            "c.bin: corrupted checkpoint (the instruction-set level is not a short lowercase name)");
  for (const std::uint32_t bad : {33u, 1000u, 0xffffffffu}) {
    std::string longer = bytes;
    patch<std::uint32_t>(longer, level_at, bad);
    EXPECT_EQ(error_of([&] { deserialize_checkpoint(resealed(longer), "c.bin"); }),
              "c.bin: corrupted checkpoint (instruction-set level of " + std::to_string(bad) +
                  " bytes)");
  }
  // A level 1 byte longer than stored eats into the history: the sizes no longer match.
  std::string shifted = bytes;
  patch<std::uint32_t>(shifted, level_at, 8);
  EXPECT_TRUE(has(error_of([&] { deserialize_checkpoint(resealed(shifted), "c.bin"); }),
                  "c.bin: corrupted checkpoint"));
}

// --resume of a re-sealed checkpoint with an out-of-range value exits 1 naming the file and the
// field, with the range the flag states; the file stays as it was.
TEST(CheckpointValues, ResumeOfAResealedOutOfRangeCheckpointExitsOne) {
  const std::string dir = test::temp_dir("ckv-cli");
  const std::string data = tiny_data();
  const std::string ck = dir + "/c.bin";
  ASSERT_EQ(cli("train --path reference --data " + data + " --epochs 1 --batch 16 --save " + ck).code, 0);
  const Checkpoint c = load_checkpoint(ck);
  const std::string good = slurp(ck);
  const std::size_t batch_at = 8 + 4 + 4 + c.spec.full_text().size() + 8 +
                               2 * std::size_t(c.spec.param_count()) * 4 + 8;
  struct Case {
    FieldEdit edit;
    std::string flag, flag_message, file_message;
  };
  const Case cases[] = {
      {{batch_at, false, 2147483647.0}, "--batch 2147483647", "--batch: 2147483647 is outside 1..1048576",
       "c.bin: batch size 2147483647 is outside 1..1048576"},
      {{batch_at - 4, false, 2147483648.0}, "--epochs 2147483648",
       "--epochs: 2147483648 is outside 0..1000000", "c.bin: epochs 2147483648 is outside 0..1000000"},
      {{batch_at + 4, true, -1}, "--lr -1", "--lr: -1 is outside 0..3e+38",
       "c.bin: learning rate -1 is outside 0..3e+38"},
      {{batch_at + 8, true, 2}, "--momentum 2", "--momentum: 2 is outside 0..1",
       "c.bin: momentum 2 is outside 0..1"},
      {{batch_at + 12, true, -0.5}, "--weight-decay -0.5", "--weight-decay: -0.5 is outside 0..1",
       "c.bin: weight decay -0.5 is outside 0..1"},
  };
  for (const auto& k : cases) {
    const std::string bad = edited_and_resealed(good, k.edit);
    write(ck, bad);
    const CliResult r = cli("train --data " + data + " --resume " + ck + " --save " + ck);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(has(r.err, k.file_message)) << r.err;
    EXPECT_EQ(slurp(ck), bad) << "a refused resume changed the checkpoint";
    // The flag with the same value is refused with the same range.
    const CliResult f = cli("train --data " + data + " " + k.flag);
    EXPECT_EQ(f.code, 2) << f.err;
    EXPECT_TRUE(has(f.err, k.flag_message)) << f.err;
  }
}

// A checkpoint of the reference path resumed on the fast path: a warning names both bit classes,
// says the result is not that of an uninterrupted run, and how to get it; the run goes on and its
// checkpoints record the new class. Resuming in the recorded class prints no warning.
TEST(CheckpointValues, ResumeOnAnotherLevelWarns) {
  const std::string dir = test::temp_dir("ckv-level");
  const std::string data = tiny_data();
  const std::string ck = dir + "/c.bin";
  const std::string opts = " --data " + data + " --batch 16";
  ASSERT_EQ(cli("train --path reference" + opts + " --epochs 1 --save " + ck).code, 0);
  EXPECT_EQ(load_checkpoint(ck).state.isa, "reference");
  const std::string copy = slurp(ck);

  CliResult r = cli("train --path fast --data " + data + " --resume " + ck + " --save " + ck +
                    " --epochs 2");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string now = fast::active_bit_class();
  EXPECT_TRUE(has(r.err, "warning: " + ck + " was trained in bit class reference, " +
                             "this run trains in bit class " + now + " (level " +
                             fast::active_isa() + ")"))
      << r.err;
  EXPECT_TRUE(has(r.err, "will not be bit for bit that of an uninterrupted run")) << r.err;
  EXPECT_TRUE(has(r.err, "resume with --path reference to continue bit for bit")) << r.err;
  EXPECT_EQ(load_checkpoint(ck).state.isa, now);

  // The same level: no warning.
  write(ck, copy);
  r = cli("train --path reference --data " + data + " --resume " + ck + " --epochs 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(has(r.err, "warning")) << r.err;
  // Nothing left to train: no warning either.
  r = cli("train --path fast --data " + data + " --resume " + ck + " --epochs 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(has(r.err, "warning")) << r.err;

  // A version 1 checkpoint (the same state, without the level): the level is unknown.
  std::string v1 = copy.substr(0, copy.size() - 8);
  v1[8] = 1;
  const std::size_t level_at = v1.size() - 4 - 24 - 4 - 9;
  ASSERT_EQ(v1.substr(level_at + 4, 9), "reference");
  v1.erase(level_at, 4 + 9);
  put<std::uint64_t>(v1, test::fnv1a64_of(v1));
  write(ck, v1);
  EXPECT_EQ(load_checkpoint(ck).state.isa, "");
  r = cli("train --path reference --data " + data + " --resume " + ck + " --epochs 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "warning: " + ck +
                             " does not record the instruction-set level it was trained at"))
      << r.err;
}

// Two fast levels of different bit classes (SCRATCHCNN_ISA): the warning names both classes and
// the variable that gets the checkpoint's bits back; with it, the resumed run ends with the bytes
// of an uninterrupted one.
TEST(CheckpointValues, ResumeInAnotherBitClassWarnsAndNamesTheVariable) {
  const auto levels = fast::supported_isas();
  const std::string best = levels[0], other = levels.back();
  if (fast::bit_class(best) == fast::bit_class(other))
    GTEST_SKIP() << "this CPU runs levels of one bit class only";
  const std::string dir = test::temp_dir("ckv-isa");
  const std::string data = tiny_data();
  const std::string opts = " --path fast --data " + data + " --batch 16 --momentum 0.9";
  {
    EnvVar env("SCRATCHCNN_ISA", other.c_str());
    ASSERT_EQ(cli("train" + opts + " --epochs 1 --save " + dir + "/part.bin").code, 0);
    ASSERT_EQ(cli("train" + opts + " --epochs 2 --save " + dir + "/whole.bin").code, 0);
  }
  EXPECT_EQ(load_checkpoint(dir + "/part.bin").state.isa, fast::bit_class(other));
  const std::string part = slurp(dir + "/part.bin");
  {
    EnvVar env("SCRATCHCNN_ISA", "auto");
    const CliResult r = cli("train --path fast --data " + data + " --resume " + dir +
                            "/part.bin --save " + dir + "/auto.bin --epochs 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(has(r.err, "was trained in bit class " + fast::bit_class(other) +
                               ", this run trains in bit class " + fast::bit_class(best)))
        << r.err;
    EXPECT_TRUE(has(r.err, "resume with SCRATCHCNN_ISA=" + other + " to continue bit for bit"))
        << r.err;
    EXPECT_EQ(load_checkpoint(dir + "/auto.bin").state.isa, fast::bit_class(best));
  }
  {
    EnvVar env("SCRATCHCNN_ISA", other.c_str());
    const CliResult r = cli("train --path fast --data " + data + " --resume " + dir +
                            "/part.bin --save " + dir + "/same.bin --epochs 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(has(r.err, "warning")) << r.err;
    EXPECT_EQ(slurp(dir + "/same.bin"), slurp(dir + "/whole.bin"));
  }
  EXPECT_EQ(slurp(dir + "/part.bin"), part);
}

// eval's header gives the bit class a checkpoint was trained in.
TEST(CheckpointValues, EvalShowsTheRecordedLevel) {
  const std::string dir = test::temp_dir("ckv-eval");
  const std::string data = tiny_data();
  ASSERT_EQ(cli("train --path reference --data " + data + " --epochs 1 --save " + dir + "/c.bin").code, 0);
  const CliResult r = cli("eval --path reference --checkpoint " + dir + "/c.bin --data " + data);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "bits      trained in reference, evaluated in reference\n")) << r.out;
}

// The per-epoch metrics at the end of a checkpoint are checked too: a re-sealed file whose history
// holds a NaN or negative loss or an accuracy outside 0..1 resumed with exit 0 and carried the
// values into --metrics.
TEST(CheckpointValues, ResealedImpossibleMetricsAreRefused) {
  const Sample s;
  const std::string good = serialize_checkpoint(s.spec, s.params, s.state);
  ASSERT_EQ(s.state.history.size(), 2u);
  // The last epoch's loss, train accuracy and test accuracy: the 24 bytes before the checksum.
  const std::size_t loss = good.size() - 8 - 24, train = loss + 8, test = loss + 16;
  double d = 0;
  std::memcpy(&d, good.data() + loss, 8);
  ASSERT_EQ(d, s.state.history.back().loss);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (const auto& [at, value] : std::vector<std::pair<std::size_t, double>>{
           {loss, nan}, {loss, -5.0}, {loss, inf}, {train, 7.0}, {train, -0.1}, {test, inf},
           {test, nan}}) {
    std::string bad = good;
    patch<double>(bad, at, value);
    EXPECT_TRUE(has(error_of([&] { deserialize_checkpoint(resealed(bad), "c.bin"); }),
                    "c.bin: corrupted checkpoint (the metrics of epoch 2"))
        << at << " " << value;
  }
  // Edge values a run can write still load.
  std::string edge = good;
  patch<double>(edge, loss, 0.0);
  patch<double>(edge, train, 1.0);
  patch<double>(edge, test, 0.0);
  EXPECT_EQ(deserialize_checkpoint(resealed(edge), "c.bin").state.history.back().train_accuracy, 1.0);
}
