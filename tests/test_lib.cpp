// The library's shared helpers (with_commas, trim, is_standard_input) and the memory checks of a
// run whose data set is smaller than its batch.
#include <unistd.h>

#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using test::has;

namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// n optdigits rows (64 pixels 0..16 and a label), label i % 10.
std::string optdigits_rows(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < 64; ++p) out += std::to_string((i * 7 + p * 3) % 17) + ",";
    out += std::to_string(i % 10) + "\n";
  }
  return out;
}

// A data folder of the UCI pair with n rows each.
std::string small_data_dir(const std::string& tag, int n) {
  const std::string dir = test::temp_dir(tag);
  write(dir + "/optdigits.tra", optdigits_rows(n));
  write(dir + "/optdigits.tes", optdigits_rows(n));
  return dir;
}

}  // namespace

TEST(Text, WithCommasGroupsThreeDigits) {
  EXPECT_EQ(with_commas(0), "0");
  EXPECT_EQ(with_commas(999), "999");
  EXPECT_EQ(with_commas(1000), "1,000");
  EXPECT_EQ(with_commas(1797), "1,797");
  EXPECT_EQ(with_commas(1234567), "1,234,567");
  EXPECT_EQ(with_commas(-1234), "-1,234");
  EXPECT_EQ(with_commas(-100), "-100");
  // The magnitude of the smallest long long does not fit a long long.
  EXPECT_EQ(with_commas(LLONG_MIN), "-9,223,372,036,854,775,808");
  EXPECT_EQ(with_commas(LLONG_MAX), "9,223,372,036,854,775,807");
}

TEST(Text, TrimDropsTheGivenCharactersAtBothEnds) {
  EXPECT_EQ(trim("  a b \t\n"), "a b");
  EXPECT_EQ(trim("\v\f\r x \r"), "x");
  EXPECT_EQ(trim(" \t \n"), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \r7\r ", " \t"), "\r7\r");
}

TEST(Text, ModelTextArgumentsMayHoldAnyWhiteSpace) {
  EXPECT_EQ(parse_model("flatten dense(64,\n\t10 )").text(), "flatten dense(64,10)");
  EXPECT_EQ(parse_model("conv(1, 2, k = 3 ,\rpad=1) relu flatten dense(128,10)").text(),
            "conv(1,2,k=3,pad=1) relu flatten dense(128,10)");
}

TEST(StandardInput, EveryNameOfDescriptorZero) {
  for (const char* name : {"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
    EXPECT_TRUE(is_standard_input(name)) << name;
  const std::string dir = test::temp_dir("stdin-names");
  fs::create_symlink("/dev/stdin", dir + "/in");
  EXPECT_TRUE(is_standard_input(dir + "/in"));
  write(dir + "/file", "x");
  fs::create_symlink(dir + "/file", dir + "/to-file");
  for (const std::string& name :
       {std::string("/dev/stdout"), std::string("/dev/fd/1"), std::string("/dev/null"),
        std::string(""), std::string("--"), dir + "/file", dir + "/to-file", dir + "/absent",
        dir, std::string("/proc/self/fd/0/x")})
    EXPECT_FALSE(is_standard_input(name)) << name;
}

TEST(StandardInput, PredictTakesItForOneInputOnly) {
  for (const char* args : {"--checkpoint - /dev/stdin", "--checkpoint /dev/stdin -",
                           "--checkpoint /dev/fd/0 /proc/self/fd/0",
                           "--checkpoint c.ckpt --labels /dev/stdin -"}) {
    const test::CliResult r = test::cli(std::string("predict ") + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_TRUE(has(r.err, "standard input (-, /dev/stdin) can be only one of")) << args << ": " << r.err;
  }
}

// A run whose data set is smaller than --batch builds batches of the data set's size: the memory
// checks must not refuse it for the batch it asked for.
TEST(DataSmallerThanBatch, TrainIsNotRefusedForABatchItNeverBuilds) {
  const std::string dir = small_data_dir("small-batch", 20);
  // At batch 100000 the fast path's partial sums alone would need about 60 MiB.
  const test::CliResult r =
      test::cli("train --data " + dir + " --epochs 1 --batch 100000 --max-memory 8M");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "trained 1 epoch")) << r.out;
  const test::CliResult cmp =
      test::cli("compare --data " + dir + " --epochs 1 --batch 100000 --max-memory 16M");
  EXPECT_EQ(cmp.code, 0) << cmp.err;
}

TEST(DataSmallerThanBatch, TooLittleMemoryIsStillRefused) {
  const std::string dir = small_data_dir("small-batch-refused", 20);
  const test::CliResult r =
      test::cli("train --data " + dir + " --epochs 1 --batch 100000 --max-memory 100K");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(has(r.err, "more than the memory limit of 100 KiB (--max-memory)")) << r.err;
  EXPECT_FALSE(has(r.out, "trained")) << r.out;
}

TEST(DataSmallerThanBatch, TrainerCountsTheBatchBufferItBuilds) {
  const ModelSpec spec = model_from_name("seed");
  auto net = make_network(PathKind::Fast, spec, Parameters::he_uniform(spec, 1));
  data::Dataset d;
  Rng rng(3);
  d.images = test::random_images(rng, 20, spec.input);
  d.labels = test::random_labels(rng, 20, 10);
  TrainOptions opt;
  opt.epochs = 1;
  opt.batch = 100000;  // a buffer of this many samples would be 26 MB
  opt.max_memory = std::uint64_t(8) << 20;
  EXPECT_EQ(train(*net, d, d, opt).size(), 1u);
}
