// Learning-rate schedules and warm-up (TrainOptions::schedule, lr_at, --lr-schedule, --warmup),
// and the optimizer (--optimizer), which version 4 checkpoints record with them (version 5 with
// Adam's moments and hyper-parameters):
// the rate of each epoch against its formula, the flag's errors, the checkpoint fields (version 4,
// written only by runs that use them), and a scheduled run that is reproducible across thread
// counts and resumes to the bytes of an uninterrupted run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/trainer.hpp"
#include "checkpoint_bytes.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

TrainOptions options(float lr, int epochs, int warmup) {
  TrainOptions o;
  o.lr = lr;
  o.epochs = epochs;
  o.warmup = warmup;
  return o;
}

}  // namespace

TEST(LrSchedule, ConstantStepAndCosineFollowTheirFormulas) {
  TrainOptions c = options(0.1f, 5, 0);
  for (int e = 1; e <= 5; ++e) EXPECT_EQ(lr_at(c, e), 0.1f) << e;

  TrainOptions s = options(0.1f, 7, 0);
  parse_lr_schedule("step:3:0.5", s, "--lr-schedule");
  const double want_step[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
  for (int e = 1; e <= 7; ++e) EXPECT_EQ(lr_at(s, e), static_cast<float>(want_step[e - 1])) << e;

  // Two warm-up epochs (lr / 3, 2 lr / 3), then cosine over the remaining 4: t = 0..3 of T = 4.
  TrainOptions k = options(0.3f, 6, 2);
  parse_lr_schedule("cosine", k, "--lr-schedule");
  EXPECT_EQ(lr_at(k, 1), static_cast<float>(double(0.3f) * 1 / 3));
  EXPECT_EQ(lr_at(k, 2), static_cast<float>(double(0.3f) * 2 / 3));
  const double pi = std::acos(-1.0);
  for (int t = 0; t < 4; ++t)
    EXPECT_EQ(lr_at(k, 3 + t), static_cast<float>(double(0.3f) * 0.5 * (1 + std::cos(pi * t / 4)))) << t;
  EXPECT_EQ(lr_at(k, 3), 0.3f);  // the first epoch after the warm-up runs at the full rate

  // Warm-up before a constant rate, and the text each schedule prints as.
  TrainOptions w = options(0.2f, 3, 1);
  EXPECT_EQ(lr_at(w, 1), 0.1f);
  EXPECT_EQ(lr_at(w, 2), 0.2f);
  EXPECT_EQ(lr_schedule_text(w), "constant");
  EXPECT_EQ(lr_schedule_text(s), "step:3:0.5");
  EXPECT_EQ(lr_schedule_text(k), "cosine");
}

TEST(LrSchedule, TheFlagsFormIsCheckedNamingWhatIsWrong) {
  const struct {
    const char* text;
    const char* expect;
  } bad[] = {{"linear", "unknown schedule"},          {"step:5", "missing :GAMMA"},
             {"step:x:0.5", "EVERY 'x' is not a number"}, {"step:5:y", "GAMMA 'y' is not a number"},
             {"step:0:0.5", "EVERY 0 is outside 1..1000000"}, {"step:2.5:0.5", "2.5"},
             {"step:5:1.5", "GAMMA 1.5 is outside 0..1"},  {"", "unknown schedule"}};
  for (const auto& b : bad) {
    TrainOptions o;
    const std::string e = error_of([&] { parse_lr_schedule(b.text, o, "--lr-schedule"); });
    EXPECT_TRUE(has(e, "--lr-schedule")) << b.text << ": " << e;
    EXPECT_TRUE(has(e, b.expect)) << b.text << ": " << e;
    EXPECT_EQ(o.schedule, LrSchedule::Constant) << b.text;
  }
  TrainOptions o;
  o.warmup = -1;
  EXPECT_TRUE(has(error_of([&] { validate(o); }), "warm-up epochs -1 is outside 0..1000000"));
}

TEST(LrSchedule, CheckpointsCarryTheScheduleFromVersion4AndOnlyThen) {
  {
    // A version 4 file without a schedule, warm-up or optimizer was not written by a run.
    CheckpointSample plain(9, EpochMetrics{.loss = 1.0, .train_accuracy = 0.5, .test_accuracy = 0.5, .seconds = 1});
    plain.state.options.warmup = 1;
    std::string v4 = serialize_checkpoint(plain.spec, plain.params, plain.state);
    ASSERT_EQ(version_of(v4), 4u);
    // The warm-up is the fourth field of the block, 8 bytes before the optimizer, which precedes
    // the history (u32) and its 2 epochs of 24 bytes and the checksum (u64).
    const std::size_t warmup_at = v4.size() - 8 - 2 * 24 - 4 - 4 - 4;
    ASSERT_EQ(v4[warmup_at], 1);
    v4[warmup_at] = 0;
    EXPECT_TRUE(has(error_of([&] { (void)deserialize_checkpoint(resealed(v4), "v4.ckpt"); }),
                    "version 4 without a schedule, warm-up or optimizer"));
  }
  CheckpointSample s(7, EpochMetrics{.loss = 1.0, .train_accuracy = 0.5, .test_accuracy = 0.5, .seconds = 1});
  EXPECT_EQ(version_of(serialize_checkpoint(s.spec, s.params, s.state)), 2u);
  s.state.options.schedule = LrSchedule::Step;
  s.state.options.step_every = 4;
  s.state.options.step_gamma = 0.25f;
  s.state.options.warmup = 3;
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  EXPECT_EQ(version_of(bytes), 4u);
  const Checkpoint c = deserialize_checkpoint(bytes, "s.ckpt");
  EXPECT_EQ(c.state.options.schedule, LrSchedule::Step);
  EXPECT_EQ(c.state.options.step_every, 4);
  EXPECT_EQ(c.state.options.step_gamma, 0.25f);
  EXPECT_EQ(c.state.options.warmup, 3);
  EXPECT_EQ(c.state.options.conv, ConvAlgo::Auto);
  EXPECT_EQ(serialize_checkpoint(c.spec, c.params, c.state), bytes);
  // The writer refuses what the flags would.
  s.state.options.step_gamma = 2;
  EXPECT_TRUE(has(error_of([&] { (void)serialize_checkpoint(s.spec, s.params, s.state); }),
                  "schedule gamma 2 is outside 0..1"));
}

TEST(LrSchedule, TheOptimizerIsRecordedCheckedAndResumedToo) {
  CheckpointSample s(8, EpochMetrics{.loss = 1.0, .train_accuracy = 0.5, .test_accuracy = 0.5, .seconds = 1});
  s.state.options.optimizer = Optimizer::Nesterov;
  s.state.options.momentum = 0.9f;
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  EXPECT_EQ(version_of(bytes), 4u);
  EXPECT_EQ(deserialize_checkpoint(bytes, "n.ckpt").state.options.optimizer, Optimizer::Nesterov);
  s.state.options.momentum = 0;
  EXPECT_TRUE(has(error_of([&] { (void)serialize_checkpoint(s.spec, s.params, s.state); }),
                  "nesterov optimizer needs a momentum above 0"));
  EXPECT_TRUE(has(error_of([] { (void)parse_optimizer("adagrad", "--optimizer"); }),
                  "--optimizer 'adagrad': unknown optimizer (known: sgd, nesterov, adam, adamw)"));

  const std::string data = learnable_optdigits("optimizer-data", 12, 64, 20);
  const std::string dir = temp_dir("optimizer");
  const std::string common = "train --data " + data + " --batch 16 --momentum 0.9 --lr 0.02 --optimizer nesterov ";
  const CliResult full = cli(common + "--epochs 3 --save " + dir + "/full.ckpt");
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_TRUE(has(full.out, "momentum 0.9 (nesterov)")) << full.out;
  ASSERT_EQ(cli(common + "--epochs 1 --save " + dir + "/part.ckpt").code, 0);
  ASSERT_EQ(cli("train --data " + data + " --resume " + dir + "/part.ckpt --epochs 3 --save " + dir + "/part.ckpt").code, 0);
  EXPECT_EQ(slurp(dir + "/part.ckpt"), slurp(dir + "/full.ckpt"));
  const CliResult other = cli("train --data " + data + " --resume " + dir + "/full.ckpt --epochs 4 --optimizer sgd");
  EXPECT_EQ(other.code, 1);
  EXPECT_TRUE(has(other.err, "--optimizer sgd differs from the nesterov")) << other.err;
  const CliResult no_momentum = cli("train --data " + data + " --optimizer nesterov --epochs 1");
  EXPECT_EQ(no_momentum.code, 2);  // a bad command line
  EXPECT_TRUE(has(no_momentum.err, "--optimizer nesterov needs --momentum above 0")) << no_momentum.err;
}

TEST(LrSchedule, AScheduledRunIsReproducibleResumableAndKeepsItsSchedule) {
  const std::string data = learnable_optdigits("lr-schedule-data", 11, 64, 20);
  const std::string dir = temp_dir("lr-schedule");
  const std::string common = "train --data " + data + " --batch 16 --lr-schedule step:1:0.5 --warmup 1 ";
  const CliResult full = cli(common + "--epochs 4 --threads 2 --save " + dir + "/full.ckpt");
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_TRUE(has(full.out, "lr 0.1 (step:1:0.5), warm-up 1 epoch")) << full.out;
  const std::string bytes = slurp(dir + "/full.ckpt");
  EXPECT_EQ(version_of(bytes), 4u);
  // One thread: the same bytes.
  ASSERT_EQ(cli(common + "--epochs 4 --threads 1 --save " + dir + "/one.ckpt").code, 0);
  EXPECT_EQ(slurp(dir + "/one.ckpt"), bytes);
  // Two epochs, then a resume (without the flags) to four: the uninterrupted run's bytes.
  ASSERT_EQ(cli(common + "--epochs 2 --save " + dir + "/part.ckpt").code, 0);
  const CliResult resumed =
      cli("train --data " + data + " --resume " + dir + "/part.ckpt --epochs 4 --save " + dir + "/part.ckpt");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(slurp(dir + "/part.ckpt"), bytes);
  // A resume that asks for another schedule or warm-up is refused, the file untouched.
  for (const std::string flag : {"--lr-schedule cosine", "--warmup 2"}) {
    const CliResult r = cli("train --data " + data + " --resume " + dir + "/full.ckpt --epochs 5 --save " + dir +
                            "/full.ckpt " + flag);
    EXPECT_EQ(r.code, 1) << flag;
    EXPECT_TRUE(has(r.err, "a resumed run keeps its options")) << r.err;
    EXPECT_EQ(slurp(dir + "/full.ckpt"), bytes);
  }
  // The schedule changes the run: without it the parameters differ.
  ASSERT_EQ(cli("train --data " + data + " --batch 16 --epochs 4 --save " + dir + "/plain.ckpt").code, 0);
  EXPECT_NE(load_checkpoint(dir + "/plain.ckpt").params, load_checkpoint(dir + "/full.ckpt").params);
  // A cosine schedule spans the planned epochs: a resume may not change them.
  ASSERT_EQ(cli("train --data " + data + " --batch 16 --epochs 2 --lr-schedule cosine --save " + dir + "/cos.ckpt").code, 0);
  const CliResult longer = cli("train --data " + data + " --resume " + dir + "/cos.ckpt --epochs 4");
  EXPECT_EQ(longer.code, 1);
  EXPECT_TRUE(has(longer.err, "its cosine schedule spans those epochs")) << longer.err;
}

// Adam and AdamW: version 5 checkpoints with the second moments and the hyper-parameters, written
// only for them; a run gives the same bytes on 1 and 2 threads and resumes to the bytes of an
// uninterrupted run; the flags' defaults and errors.
TEST(AdamRun, CheckpointsCarryTheMomentsAndARunResumesBitForBit) {
  CheckpointSample s(10, EpochMetrics{.loss = 1.0, .train_accuracy = 0.5, .test_accuracy = 0.5, .seconds = 1});
  s.state.options.optimizer = Optimizer::AdamW;
  s.state.options.momentum = 0;
  s.state.options.beta1 = 0.5f;
  s.state.options.beta2 = 0.75f;
  s.state.options.eps = 1e-6f;
  s.state.second = s.params;  // any non-negative values of the model's sizes
  for (LayerParams& lp : s.state.second.layers)
    for (auto* v : {&lp.weights, &lp.bias})
      for (float& x : *v) x = std::abs(x) + 0.25f;
  const std::string bytes = serialize_checkpoint(s.spec, s.params, s.state);
  EXPECT_EQ(version_of(bytes), 5u);
  const Checkpoint c = deserialize_checkpoint(bytes, "a.ckpt");
  EXPECT_EQ(c.state.options.optimizer, Optimizer::AdamW);
  EXPECT_EQ(c.state.options.beta1, 0.5f);
  EXPECT_EQ(c.state.options.beta2, 0.75f);
  EXPECT_EQ(c.state.options.eps, 1e-6f);
  EXPECT_EQ(c.state.second, s.state.second);
  EXPECT_EQ(serialize_checkpoint(c.spec, c.params, c.state), bytes);
  // Refused: a writer without the second moments, a negative moment, a beta out of range.
  {
    CheckpointSample bad = s;
    bad.state.second = Parameters{};
    EXPECT_THROW((void)serialize_checkpoint(bad.spec, bad.params, bad.state), Error);
    bad.state.second = s.state.second;
    bad.state.options.beta2 = 1.0f;
    EXPECT_TRUE(has(error_of([&] { (void)serialize_checkpoint(bad.spec, bad.params, bad.state); }),
                    "beta2 1 is outside")) << error_of([&] { (void)serialize_checkpoint(bad.spec, bad.params, bad.state); });
  }
  {
    // The first second moment follows the velocities: parameters, velocities, then it.
    std::string negative = bytes;
    const std::size_t count = std::size_t(s.params.count());
    const std::string text = s.spec.full_text();
    const std::size_t second_at = 8 + 4 + 4 + text.size() + 8 + 2 * count * 4;
    const float minus = -1.0f;
    std::memcpy(&negative[second_at], &minus, 4);
    EXPECT_TRUE(has(error_of([&] { (void)deserialize_checkpoint(resealed(negative), "n.ckpt"); }),
                    "negative or non-finite second moment"));
  }

  const std::string data = learnable_optdigits("adam-data", 13, 64, 20);
  const std::string dir = temp_dir("adam");
  const std::string common = "train --data " + data + " --batch 16 --optimizer adamw --betas 0.8,0.99 ";
  const CliResult full = cli(common + "--epochs 3 --threads 2 --save " + dir + "/full.ckpt");
  ASSERT_EQ(full.code, 0) << full.err;
  // PyTorch's defaults: lr 0.001, AdamW's weight decay 0.01.
  EXPECT_TRUE(has(full.out, "lr 0.001, adamw (betas 0.8,0.99, eps 1e-08), weight decay 0.01")) << full.out;
  const std::string whole = slurp(dir + "/full.ckpt");
  EXPECT_EQ(version_of(whole), 5u);
  ASSERT_EQ(cli(common + "--epochs 3 --threads 1 --save " + dir + "/one.ckpt").code, 0);
  EXPECT_EQ(slurp(dir + "/one.ckpt"), whole);
  ASSERT_EQ(cli(common + "--epochs 1 --save " + dir + "/part.ckpt").code, 0);
  const CliResult resumed =
      cli("train --data " + data + " --resume " + dir + "/part.ckpt --epochs 3 --save " + dir + "/part.ckpt");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(slurp(dir + "/part.ckpt"), whole);
  // The run learned: the last epoch's loss is below the first's.
  const Checkpoint done = load_checkpoint(dir + "/full.ckpt");
  EXPECT_LT(done.state.history.back().loss, done.state.history.front().loss);
  // A resume with other betas, a momentum with adam, betas with sgd: refused.
  const CliResult other = cli("train --data " + data + " --resume " + dir + "/full.ckpt --epochs 4 --betas 0.9,0.999");
  EXPECT_EQ(other.code, 1);
  EXPECT_TRUE(has(other.err, "--betas 0.9,0.999 differs from the 0.8,0.99")) << other.err;
  const CliResult momentum = cli("train --data " + data + " --optimizer adam --momentum 0.9 --epochs 1");
  EXPECT_EQ(momentum.code, 2);
  EXPECT_TRUE(has(momentum.err, "--momentum is for sgd and nesterov")) << momentum.err;
  const CliResult betas = cli("train --data " + data + " --betas 0.9,0.99 --epochs 1");
  EXPECT_EQ(betas.code, 2);
  EXPECT_TRUE(has(betas.err, "--betas is for --optimizer adam or adamw (the run's is sgd)")) << betas.err;
  ASSERT_EQ(cli("train --data " + data + " --epochs 1 --save " + dir + "/sgd.ckpt").code, 0);
  const CliResult sgd_eps = cli("train --data " + data + " --resume " + dir + "/sgd.ckpt --epochs 2 --eps 1e-6");
  EXPECT_EQ(sgd_eps.code, 2);
  EXPECT_TRUE(has(sgd_eps.err, "--eps is for --optimizer adam or adamw")) << sgd_eps.err;
  const CliResult eps = cli("train --data " + data + " --optimizer adam --eps 0 --epochs 1");
  EXPECT_EQ(eps.code, 2);
  EXPECT_TRUE(has(eps.err, "--eps: 0 is outside 1e-30..1")) << eps.err;
}
