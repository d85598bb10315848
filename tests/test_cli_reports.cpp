// What eval and predict print and write, on a case worked out by hand: all-zero parameters give
// every class the same logit, so every sample is predicted as class 0 (the first largest) with
// probability 1/10 for each class.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "scratchcnn/files.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

const char* const kModelText = "1x8x8: conv(1,2,k=3,pad=1) relu maxpool(2) flatten dense(32,10)";

// 20 test rows (and 20 training rows), labels 0..9 twice; the pixels do not matter.
std::string two_per_class(const std::string& dir) {
  for (const char* name : {"optdigits.tra", "optdigits.tes"}) {
    std::ofstream f(dir + "/" + name);
    for (int r = 0; r < 20; ++r) {
      for (int i = 0; i < 64; ++i) f << (i + r) % 17 << ",";
      f << r % 10 << "\n";
    }
  }
  return dir;
}

std::string zero_parameters(const std::string& dir) {
  const ModelSpec spec = model_from_name("conv(1,2,k=3,pad=1) relu maxpool(2) flatten dense(32,10)");
  write_file_atomic(dir + "/zero.bin", serialize_parameters(spec, Parameters::zeros(spec)));
  return dir + "/zero.bin";
}

}  // namespace

TEST(CliReports, EvalJsonAndCsvOfAllClassZero) {
  const std::string dir = temp_dir("reports-eval");
  const std::string data = two_per_class(dir);
  const CliResult r = cli("eval --checkpoint " + zero_parameters(dir) + " --data " + data +
                          " --json " + dir + "/e.json --csv " + dir + "/e.csv");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  std::string confusion;
  for (int t = 0; t < 10; ++t)
    confusion += std::string(t ? ",\n" : "\n") + "    [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]";
  const std::string expected =
      std::string("{\n  \"model\": \"") + kModelText + "\",\n"
      "  \"split\": \"test\",\n  \"samples\": 20,\n  \"classes\": 10,\n  \"accuracy\": 0.1,\n"
      "  \"precision\": [0.1, null, null, null, null, null, null, null, null, null],\n"
      "  \"recall\": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],\n"
      "  \"support\": [2, 2, 2, 2, 2, 2, 2, 2, 2, 2],\n"
      "  \"confusion\": [" + confusion + "\n  ]\n}\n";
  EXPECT_EQ(slurp(dir + "/e.json"), expected);
  std::string csv = "true,0,1,2,3,4,5,6,7,8,9\n";
  for (int t = 0; t < 10; ++t) csv += std::to_string(t) + ",2,0,0,0,0,0,0,0,0,0\n";
  EXPECT_EQ(slurp(dir + "/e.csv"), csv);
  EXPECT_TRUE(has(r.out, "accuracy  0.1000 (2 of 20)\n")) << r.out;
  EXPECT_TRUE(has(r.out, "    0     0.1000  1.0000        2\n    1          -  0.0000        2\n"))
      << r.out;
  EXPECT_TRUE(has(r.out, "true\\pred    0    1    2    3    4    5    6    7    8    9\n"
                         "        0    2    0    0    0    0    0    0    0    0    0\n"))
      << r.out;
}

TEST(CliReports, PredictPrintsTheClassAndEveryProbability) {
  const std::string dir = temp_dir("reports-predict");
  const std::string data = two_per_class(dir);
  const CliResult r =
      cli("predict --probs --checkpoint " + zero_parameters(dir) + " " + data + "/optdigits.tes");
  ASSERT_EQ(r.code, 0) << r.err;
  std::string line = "0";
  for (int c = 0; c < 10; ++c) line += " 0.100000";
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += line + "\n";
  EXPECT_EQ(r.out, expected);
  EXPECT_TRUE(has(r.err, "accuracy 0.1000 (2 of 20) against the labels of")) << r.err;
}
