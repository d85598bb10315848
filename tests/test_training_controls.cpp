// Validation split, early stopping and --save-best (TrainOptions::val_fraction, early_stop,
// Validation, train's metrics, version 6 checkpoints): the split against its definition, the
// stopping rule, the validation loss against each path's own loss, and runs that are reproducible
// across thread counts, resume bit for bit and keep the best epoch's checkpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "checkpoint_bytes.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

EpochMetrics with_val(int epoch, double val_loss) {
  EpochMetrics m;
  m.epoch = epoch;
  m.val_loss = val_loss;
  m.val_accuracy = 0.5;
  return m;
}

// The image of a sample as a key, to find it in another data set.
std::vector<float> image_of(const data::Dataset& d, int i) {
  return std::vector<float>(d.image(i), d.image(i) + d.sample_size());
}

}  // namespace

TEST(ValidationSplit, IsStratifiedDisjointSeededAndComplete) {
  const data::Dataset all = random_dataset(3, 205, Shape{1, 4, 4}, 5);
  const data::Split a = validation_split(all, 0.2, 7);
  EXPECT_EQ(a.train.size() + a.test.size(), all.size());
  // Per class: round(0.2 * count) held out.
  std::map<int, int> count, held;
  for (int l : all.labels) ++count[l];
  for (int l : a.test.labels) ++held[l];
  for (const auto& [label, n] : count) EXPECT_EQ(held[label], int(std::lround(0.2 * n))) << label;
  // Disjoint and complete: every sample is in exactly one part (the images are distinct).
  std::multiset<std::vector<float>> seen;
  for (const auto* d : {&a.train, &a.test})
    for (int i = 0; i < d->size(); ++i) seen.insert(image_of(*d, i));
  for (int i = 0; i < all.size(); ++i) EXPECT_EQ(seen.count(image_of(all, i)), 1u) << i;
  // Seeded: the same seed gives the same parts, another seed others; independent of the test
  // split's seed stream (kSeedSplit), so digits.csv's split and this one do not coincide.
  const data::Split again = validation_split(all, 0.2, 7), other = validation_split(all, 0.2, 8);
  EXPECT_EQ(again.test.images, a.test.images);
  EXPECT_NE(other.test.images, a.test.images);
  EXPECT_NE(data::stratified_split(all, 0.2, 7).test.images, a.test.images);
  // Refused: a fraction out of range, or one that leaves a part empty.
  EXPECT_TRUE(has(error_of([&] { (void)validation_split(all, 0.95, 7); }), "is outside 0..0.9"));
  EXPECT_THROW((void)validation_split(all, 0.0, 7), Error);
  const data::Dataset tiny = random_dataset(4, 3, Shape{1, 4, 4}, 3);
  EXPECT_TRUE(has(error_of([&] { (void)validation_split(tiny, 0.1, 7); }), "both need at least one"));
}

TEST(EarlyStop, BestEpochAndTheRuleFollowTheirDefinitions) {
  EXPECT_EQ(best_epoch({}), 0);
  EXPECT_EQ(best_epoch({EpochMetrics{}}), 0);  // no validation loss
  const std::vector<EpochMetrics> h = {with_val(1, 0.9), with_val(2, 0.5), with_val(3, 0.7),
                                       with_val(4, 0.5), with_val(5, 0.6)};
  EXPECT_EQ(best_epoch(h), 2);  // the first of equal losses
  EXPECT_FALSE(early_stop_due(h, 0));
  EXPECT_TRUE(early_stop_due(h, 3));   // epochs 3, 4 and 5 without a loss below 0.5
  EXPECT_FALSE(early_stop_due(h, 4));
  EXPECT_TRUE(early_stop_due(std::vector<EpochMetrics>(h.begin(), h.begin() + 4), 2));
  EXPECT_FALSE(early_stop_due(std::vector<EpochMetrics>(h.begin(), h.begin() + 2), 1));
}

// The validation loss is the mean softmax cross-entropy: each path's own training loss over the
// same samples (computed by its loss kernel) agrees with it.
TEST(EarlyStop, TheValidationLossIsTheMeanCrossEntropy) {
  const ModelSpec spec = model_from_name("seed");
  const data::Dataset d = random_dataset(5, 70, spec.input, 10);
  for (PathKind path : {PathKind::Reference, PathKind::Fast}) {
    auto net = make_network(path, spec, Parameters::he_uniform(spec, 6));
    StepResult r;
    (void)net->gradients(Batch{d.images.data(), d.labels.data(), d.size()}, &r);
    const Evaluation e = evaluate_with_loss(*net, d, 32);
    EXPECT_NEAR(e.loss, r.loss, 1e-6 * r.loss) << path_name(path);
    EXPECT_DOUBLE_EQ(e.accuracy, double(r.correct) / d.size()) << path_name(path);
    EXPECT_DOUBLE_EQ(e.accuracy, evaluate(*net, d, 32));
  }
}

TEST(EarlyStop, TrainStopsWhenDueAndValidatesEveryEpoch) {
  const ModelSpec spec = model_from_name("seed");
  const data::Dataset all = random_dataset(8, 200, spec.input, 10);
  const data::Split parts = validation_split(all, 0.25, 1);
  TrainOptions o;
  o.epochs = 40;
  o.batch = 16;
  o.lr = 0.5f;  // random labels: the validation loss soon stops falling
  o.val_fraction = 0.25f;
  o.early_stop = 2;
  auto net = make_network(PathKind::Fast, spec, Parameters::he_uniform(spec, 2));
  Validation v;
  v.set = &parts.test;
  const auto h = train(*net, parts.train, parts.train, o, {}, {}, v);
  ASSERT_FALSE(h.empty());
  ASSERT_LT(h.size(), 40u) << "random labels should stop early";
  for (const EpochMetrics& m : h) {
    EXPECT_TRUE(std::isfinite(m.val_loss) && m.val_accuracy >= 0 && m.val_accuracy <= 1);
  }
  // It stopped at the first epoch at which the rule held, not before and not after.
  EXPECT_TRUE(early_stop_due(h, 2));
  for (std::size_t n = 1; n < h.size(); ++n)
    EXPECT_FALSE(early_stop_due(std::vector<EpochMetrics>(h.begin(), h.begin() + long(n)), 2)) << n;
  // A resumed run whose prior epochs already say stop trains none.
  TrainOptions rest = o;
  rest.first_epoch = int(h.size()) + 1;
  v.prior = h;
  EXPECT_TRUE(train(*net, parts.train, parts.train, rest, {}, {}, v).empty());
  // Early stopping without a validation set is refused.
  v.set = nullptr;
  EXPECT_TRUE(has(error_of([&] { (void)train(*net, parts.train, parts.train, o, {}, {}, v); }),
                  "needs a validation set"));
}

TEST(ValidationCheckpoint, Version6CarriesTheFractionAndTheMetrics) {
  CheckpointSample s(12, EpochMetrics{.loss = 1.0, .train_accuracy = 0.5, .test_accuracy = 0.5, .seconds = 1});
  s.state.options.val_fraction = 0.25f;
  for (EpochMetrics& m : s.state.history) {
    m.val_loss = 0.75 + m.epoch;
    m.val_accuracy = 0.125 * m.epoch;
  }
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  EXPECT_EQ(version_of(bytes), 6u);
  const Checkpoint c = deserialize_checkpoint(bytes, "v.ckpt");
  EXPECT_EQ(c.state.options.val_fraction, 0.25f);
  ASSERT_EQ(c.state.history.size(), s.state.history.size());
  for (std::size_t i = 0; i < c.state.history.size(); ++i) {
    EXPECT_EQ(c.state.history[i].val_loss, s.state.history[i].val_loss);
    EXPECT_EQ(c.state.history[i].val_accuracy, s.state.history[i].val_accuracy);
  }
  EXPECT_EQ(c.state.second, Parameters::zeros(s.spec));  // sgd: zeros
  EXPECT_EQ(serialize_checkpoint(c.spec, c.params, c.state), bytes);
  // A bad validation accuracy in the last epoch (8 bytes before the checksum) is refused.
  std::string bad = bytes;
  const double two = 2.0;
  std::memcpy(&bad[bad.size() - 16], &two, 8);
  EXPECT_TRUE(has(error_of([&] { (void)deserialize_checkpoint(resealed(bad), "v.ckpt"); }),
                  "validation accuracy 2"));
  // Under sgd the second moments are the writer's +0, bit for bit: a -0 would not come back as
  // written (found by fuzz_checkpoint_sealed).
  std::string negzero = bytes;
  const std::size_t count = std::size_t(s.params.count());
  const std::size_t second_at = 8 + 4 + 4 + s.spec.full_text().size() + 8 + 2 * count * 4;
  negzero[second_at + 3] = char(0x80);
  EXPECT_TRUE(has(error_of([&] { (void)deserialize_checkpoint(resealed(negzero), "v.ckpt"); }),
                  "second moments under the sgd optimizer"));
  // The writer refuses epochs without validation metrics in a run with a split.
  s.state.history.back().val_loss = std::nan("");
  EXPECT_TRUE(has(error_of([&] { (void)serialize_checkpoint(s.spec, s.params, s.state); }),
                  "has no validation metrics"));
}

TEST(ValidationRun, ReproducibleResumableAndKeepsTheBestEpoch) {
  const std::string data = learnable_optdigits("val-data", 14, 80, 20);
  const std::string dir = temp_dir("val-run");
  const std::string common = "train --data " + data + " --batch 16 --lr 0.05 --val-fraction 0.25 ";
  const CliResult full = cli(common + "--epochs 6 --threads 2 --save " + dir + "/full.ckpt --save-best " +
                             dir + "/best.ckpt --metrics " + dir + "/m.csv");
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_TRUE(has(full.out, "20 of the training samples held out for validation (0.25, stratified)")) << full.out;
  EXPECT_TRUE(has(full.out, "val_loss    val_acc")) << full.out;
  EXPECT_TRUE(has(slurp(dir + "/m.csv"), "epoch,loss,train_accuracy,test_accuracy,val_loss,val_accuracy,seconds\n"));
  const std::string whole = slurp(dir + "/full.ckpt");
  EXPECT_EQ(version_of(whole), 6u);
  // One thread: the same bytes; a resume after 2 epochs: the same bytes.
  ASSERT_EQ(cli(common + "--epochs 6 --threads 1 --save " + dir + "/one.ckpt").code, 0);
  EXPECT_EQ(slurp(dir + "/one.ckpt"), whole);
  ASSERT_EQ(cli(common + "--epochs 2 --save " + dir + "/part.ckpt").code, 0);
  const CliResult resumed =
      cli("train --data " + data + " --resume " + dir + "/part.ckpt --epochs 6 --save " + dir + "/part.ckpt");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(slurp(dir + "/part.ckpt"), whole);
  // --save-best holds the state after the best epoch: what a run of that many epochs ends with.
  const Checkpoint last = load_checkpoint(dir + "/full.ckpt"), best = load_checkpoint(dir + "/best.ckpt");
  const int b = best_epoch(last.state.history);
  ASSERT_GT(b, 0);
  EXPECT_EQ(best.state.epoch, b);
  EXPECT_TRUE(has(full.out, "wrote " + dir + "/best.ckpt (checkpoint after epoch " + std::to_string(b))) << full.out;
  ASSERT_EQ(cli(common + "--epochs " + std::to_string(b) + " --save " + dir + "/upto.ckpt").code, 0);
  const Checkpoint upto = load_checkpoint(dir + "/upto.ckpt");
  EXPECT_EQ(best.params, upto.params);
  EXPECT_EQ(best.state.velocity, upto.state.velocity);
  ASSERT_EQ(best.state.history.size(), upto.state.history.size());
  for (std::size_t i = 0; i < upto.state.history.size(); ++i)
    EXPECT_EQ(best.state.history[i].val_loss, upto.state.history[i].val_loss);
  // Errors: flags that need a validation set, a fraction out of range, another fraction on resume,
  // --save-best onto --save.
  const auto code_and = [&](const std::string& args, int code, const std::string& text) {
    const CliResult r = cli("train --data " + data + " " + args);
    EXPECT_EQ(r.code, code) << args;
    EXPECT_TRUE(has(r.err, text)) << args << ": " << r.err;
  };
  code_and("--epochs 1 --early-stop 2", 2, "--early-stop needs a validation set");
  code_and("--epochs 1 --save-best " + dir + "/x.ckpt", 2, "--save-best keeps the epoch");
  code_and("--epochs 1 --val-fraction 0.95", 2, "--val-fraction: 0.95 is outside 0..0.9");
  code_and("--resume " + dir + "/full.ckpt --epochs 7 --val-fraction 0.5", 1,
           "--val-fraction 0.5 differs from the 0.25");
  code_and("--epochs 1 --val-fraction 0.1 --save " + dir + "/same.ckpt --save-best " + dir + "/same.ckpt", 1,
           "--save-best");
  // compare trains both paths for the same epochs: no early stopping there.
  const CliResult cmp = cli("compare --data " + data + " --epochs 1 --val-fraction 0.25 --early-stop 1");
  EXPECT_EQ(cmp.code, 2);
  EXPECT_TRUE(has(cmp.err, "--early-stop is for train")) << cmp.err;
  // A resume whose best epoch is one of the checkpoint's writes no --save-best file and says so
  // (a learning rate of 0 leaves the validation loss where it was: never lower).
  const CliResult later = cli("train --data " + data + " --resume " + dir + "/full.ckpt --epochs 7 --save-best " +
                              dir + "/later.ckpt --save " + dir + "/later-last.ckpt");
  ASSERT_EQ(later.code, 0) << later.err;
  const int best_after = best_epoch(load_checkpoint(dir + "/later-last.ckpt").state.history);
  if (best_after <= 6) {
    EXPECT_TRUE(has(later.out, "did not write " + dir + "/later.ckpt")) << later.out;
    EXPECT_FALSE(std::filesystem::exists(dir + "/later.ckpt"));
  } else {
    EXPECT_TRUE(has(later.out, "wrote " + dir + "/later.ckpt (checkpoint after epoch 7")) << later.out;
  }
  // --early-stop on a resumed run without validation: the message says why adding the flag
  // cannot help.
  ASSERT_EQ(cli("train --data " + data + " --epochs 1 --save " + dir + "/nv.ckpt").code, 0);
  code_and("--resume " + dir + "/nv.ckpt --epochs 2 --early-stop 1", 2, "the resumed run has none");
  EXPECT_EQ(slurp(dir + "/full.ckpt"), whole);
}

// Dropout masks are keyed by the run's seed and the step counted over the whole run: a resumed
// run draws the masks of the uninterrupted one.
TEST(DropoutRun, ResumesBitForBitAndDependsOnTheSeed) {
  const std::string data = learnable_optdigits("dropout-data", 15, 64, 20);
  const std::string dir = temp_dir("dropout-run");
  const std::string common =
      "train --data " + data + " --batch 16 --model \"conv(1,2,k=3,pad=1) relu dropout(0.25) "
      "maxpool(2) flatten dense(32,16) relu dropout(0.5) dense(16,10)\" ";
  ASSERT_EQ(cli(common + "--epochs 3 --save " + dir + "/full.ckpt").code, 0);
  ASSERT_EQ(cli(common + "--epochs 1 --save " + dir + "/part.ckpt").code, 0);
  const CliResult resumed =
      cli("train --data " + data + " --resume " + dir + "/part.ckpt --epochs 3 --save " + dir + "/part.ckpt");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(slurp(dir + "/part.ckpt"), slurp(dir + "/full.ckpt"));
  ASSERT_EQ(cli(common + "--epochs 3 --threads 1 --save " + dir + "/one.ckpt").code, 0);
  EXPECT_EQ(slurp(dir + "/one.ckpt"), slurp(dir + "/full.ckpt"));
}

// Version 7: the data's class names and load options, written only when there are some; a
// validation split may come with them or not.
TEST(DataCheckpoint, Version7CarriesClassNamesAndLoadOptions) {
  CheckpointSample s(13, EpochMetrics{.loss = 1.0, .train_accuracy = 0.5, .test_accuracy = 0.5, .seconds = 1});
  for (int c = 0; c < 10; ++c) s.state.class_names.push_back("class " + std::to_string(c));
  s.state.load = data::LoadOptions{3, 8, 8};
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  EXPECT_EQ(version_of(bytes), 7u);
  const Checkpoint c = deserialize_checkpoint(bytes, "n.ckpt");
  EXPECT_EQ(c.state.class_names, s.state.class_names);
  EXPECT_EQ(c.state.load, s.state.load);
  EXPECT_EQ(c.state.options.val_fraction, 0.0f);
  EXPECT_EQ(serialize_checkpoint(c.spec, c.params, c.state), bytes);
  // With a validation split as well: its metrics come back.
  CheckpointSample v = s;
  v.state.options.val_fraction = 0.5f;
  for (EpochMetrics& m : v.state.history) {
    m.val_loss = 0.5;
    m.val_accuracy = 0.25;
  }
  const std::string with_val = serialize_checkpoint(v.spec, v.params, v.state);
  EXPECT_EQ(version_of(with_val), 7u);
  EXPECT_EQ(deserialize_checkpoint(with_val, "v.ckpt").state.history.back().val_accuracy, 0.25);
  // Refused by the writer: a name count other than the classes, a repeated or empty name, a
  // control character, a bad load option.
  const auto refused = [&](auto change, const std::string& text) {
    CheckpointSample b = s;
    change(b.state);
    const std::string msg = error_of([&] { (void)serialize_checkpoint(b.spec, b.params, b.state); });
    EXPECT_TRUE(has(msg, text)) << msg;
  };
  refused([](TrainingState& t) { t.class_names.pop_back(); }, "9 class names for a model of 10 classes");
  refused([](TrainingState& t) { t.class_names[3] = t.class_names[2]; }, "class name 3 repeats");
  refused([](TrainingState& t) { t.class_names[1].clear(); }, "class name 1 has 0 bytes");
  refused([](TrainingState& t) { t.class_names[0] = "a\nb"; }, "control character");
  refused([](TrainingState& t) { t.load.channels = 2; }, "channels 2 is not 0, 1 or 3");
  refused([](TrainingState& t) { t.load.resize_w = 0; }, "resize 8x0");
  // Without names or options: not version 7.
  CheckpointSample plain(14, EpochMetrics{.loss = 1.0, .train_accuracy = 0.5, .test_accuracy = 0.5, .seconds = 1});
  EXPECT_LT(version_of(serialize_checkpoint(plain.spec, plain.params, plain.state)), 7u);
}
