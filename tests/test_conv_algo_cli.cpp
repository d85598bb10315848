// --conv-algo on train, compare, eval and predict: each algorithm's runs are reproducible and
// resumable, the two differ, a default run's checkpoint keeps version 2, and the algorithm a
// checkpoint records is the one its resume, eval and predict use.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "scratchcnn/rng.hpp"
#include "checkpoint_bytes.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

// Two convolutions with several channels: direct and im2col sum their products in different
// orders, so their results differ in the last bits.
const char* const kModel = "'conv(1,4,k=3,pad=1) relu conv(4,4,k=3,pad=1) relu maxpool(2) flatten dense(64,10)'";

// A small learnable optdigits folder: 64 training and 20 test rows.
std::string tiny_data() { return learnable_optdigits("conv-algo-data", 7, 64, 20); }

class ConvAlgoCli : public testing::Test {
 protected:
  static void SetUpTestSuite() { data_ = new std::string(tiny_data()); }
  static void TearDownTestSuite() { delete data_; }
  // train with the model, the data, 2 threads and `extra`; the checkpoint's bytes.
  static std::string train(const std::string& extra, const std::string& save) {
    const CliResult r = cli("train --model " + std::string(kModel) + " --data " + *data_ +
                            " --batch 16 --threads 2 --save " + save + " " + extra);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return slurp(save);
  }
  static std::string* data_;
};
std::string* ConvAlgoCli::data_ = nullptr;

}  // namespace

TEST_F(ConvAlgoCli, EachAlgorithmIsReproducibleAndResumableAndTheTwoDiffer) {
  const std::string dir = temp_dir("conv-algo-train");
  std::string bytes[2];
  int i = 0;
  for (const char* algo : {"direct", "im2col"}) {
    const std::string flag = std::string("--conv-algo ") + algo;
    const std::string full = train(flag + " --epochs 2", dir + "/" + algo + ".ckpt");
    EXPECT_EQ(version_of(full), 3u) << algo;
    // The same run again, on one thread: the same bytes.
    const CliResult again = cli("train --model " + std::string(kModel) + " --data " + *data_ +
                                " --batch 16 --threads 1 --epochs 2 " + flag + " --save " + dir +
                                "/again.ckpt");
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(slurp(dir + "/again.ckpt"), full) << algo;
    // One epoch, then a resume without --conv-algo (the checkpoint's algorithm) to epoch 2.
    (void)train(flag + " --epochs 1", dir + "/part.ckpt");
    const CliResult r = cli("train --data " + *data_ + " --resume " + dir + "/part.ckpt --save " +
                            dir + "/part.ckpt --epochs 2");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(has(r.out, std::string(", conv ") + algo)) << r.out;
    EXPECT_EQ(slurp(dir + "/part.ckpt"), full) << algo;
    bytes[i++] = full;
  }
  EXPECT_NE(bytes[0], bytes[1]);
}

TEST_F(ConvAlgoCli, ADefaultRunWritesVersion2AndAutoMatchesIt) {
  const std::string dir = temp_dir("conv-algo-auto");
  const std::string plain = train("--epochs 1", dir + "/plain.ckpt");
  EXPECT_EQ(version_of(plain), 2u);
  EXPECT_EQ(train("--epochs 1 --conv-algo auto", dir + "/auto.ckpt"), plain);
}

TEST_F(ConvAlgoCli, AResumeWithAnotherAlgorithmIsRefused) {
  const std::string dir = temp_dir("conv-algo-resume");
  const std::string before = train("--epochs 1 --conv-algo direct", dir + "/run.ckpt");
  for (const char* other : {"im2col", "auto"}) {
    const CliResult r = cli("train --data " + *data_ + " --resume " + dir + "/run.ckpt --save " +
                            dir + "/run.ckpt --epochs 2 --conv-algo " + other);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(has(r.err, std::string("--conv-algo ") + other +
                               " differs from the direct that")) << r.err;
    EXPECT_EQ(slurp(dir + "/run.ckpt"), before);
  }
  const CliResult same = cli("train --data " + *data_ + " --resume " + dir + "/run.ckpt --epochs 2 --conv-algo direct");
  EXPECT_EQ(same.code, 0) << same.err;
}

TEST_F(ConvAlgoCli, CompareChecksEachAlgorithmAgainstTheReference) {
  const std::string dir = temp_dir("conv-algo-compare");
  for (const char* algo : {"direct", "im2col"}) {
    const CliResult r = cli("compare --model " + std::string(kModel) + " --data " + *data_ +
                            " --epochs 2 --batch 16 --conv-algo " + algo + " --json " + dir + "/c.json");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(has(r.out, std::string(", conv ") + algo)) << r.out;
    EXPECT_TRUE(has(r.out, "parity: OK")) << r.out;
    const std::string json = slurp(dir + "/c.json");
    EXPECT_TRUE(has(json, std::string("\"conv_algo\": \"") + algo + "\"\n}\n")) << json;
  }
  const CliResult plain = cli("compare --model " + std::string(kModel) + " --data " + *data_ +
                              " --epochs 1 --batch 16 --json " + dir + "/c.json");
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_FALSE(has(slurp(dir + "/c.json"), "conv_algo"));
  EXPECT_FALSE(has(plain.out, ", conv ")) << plain.out;
}

TEST_F(ConvAlgoCli, EvalAndPredictUseTheRecordedAlgorithmUnlessTold) {
  const std::string dir = temp_dir("conv-algo-eval");
  (void)train("--epochs 1 --conv-algo im2col", dir + "/run.ckpt");
  const CliResult recorded = cli("eval --checkpoint " + dir + "/run.ckpt --data " + *data_);
  ASSERT_EQ(recorded.code, 0) << recorded.err;
  EXPECT_TRUE(has(recorded.out, "\nconv      im2col\n")) << recorded.out;
  const CliResult told = cli("eval --checkpoint " + dir + "/run.ckpt --data " + *data_ + " --conv-algo direct");
  ASSERT_EQ(told.code, 0) << told.err;
  EXPECT_TRUE(has(told.out, "\nconv      direct\n")) << told.out;
  const CliResult reference = cli("eval --checkpoint " + dir + "/run.ckpt --data " + *data_ + " --path reference");
  EXPECT_FALSE(has(reference.out, "\nconv ")) << reference.out;
  const CliResult predict = cli("predict --checkpoint " + dir + "/run.ckpt --conv-algo direct " +
                                *data_ + "/optdigits.tes");
  EXPECT_EQ(predict.code, 0) << predict.err;
  EXPECT_TRUE(has(predict.err, "accuracy ")) << predict.err;
  for (const char* cmd : {"eval --checkpoint x", "predict --checkpoint x y", "train", "compare"}) {
    const CliResult bad = cli(std::string(cmd) + " --conv-algo winograd");
    EXPECT_EQ(bad.code, 2) << cmd;
    EXPECT_TRUE(has(bad.err, "--conv-algo")) << cmd << ": " << bad.err;
  }
}

TEST_F(ConvAlgoCli, AStridedModelTrainsOnAutoAndIm2colAndDirectIsRefused) {
  const std::string dir = temp_dir("conv-algo-stride");
  const std::string model = "'conv(1,4,k=3,stride=2,pad=1) relu conv(4,8,k=3) relu flatten dense(32,10)'";
  const std::string base = "train --model " + model + " --data " + *data_ + " --batch 16 --epochs 1 ";
  const CliResult a = cli(base + "--threads 2 --save " + dir + "/auto.ckpt");
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  // Naming im2col, the one algorithm that runs the strided layer: the same bytes at 1 and 2
  // threads.
  const CliResult i1 = cli(base + "--threads 1 --conv-algo im2col --save " + dir + "/i1.ckpt");
  const CliResult i2 = cli(base + "--threads 2 --conv-algo im2col --save " + dir + "/i2.ckpt");
  ASSERT_EQ(i1.code, 0) << i1.err;
  ASSERT_EQ(i2.code, 0) << i2.err;
  EXPECT_EQ(slurp(dir + "/i1.ckpt"), slurp(dir + "/i2.ckpt"));
  const CliResult d = cli(base + "--conv-algo direct --save " + dir + "/d.ckpt");
  EXPECT_EQ(d.code, 1) << d.out << d.err;
  EXPECT_TRUE(has(d.err, "direct convolution does not run conv(1,4,k=3,stride=2,pad=1)")) << d.err;
  EXPECT_TRUE(has(d.err, "stride 1 only")) << d.err;
}
