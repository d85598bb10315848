// The command-line tool as a user runs it: exit codes, messages, output files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "scratchcnn/fast/isa.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

// A small optdigits-format data folder: `train` and `test` rows of learnable patterns.
std::string tiny_data(int train = 60, int test = 30) {
  return test::learnable_optdigits("cli-data", 5, train, test);
}

}  // namespace

TEST(Cli, HelpForEveryCommand) {
  for (const char* cmd : {"train", "compare", "info"}) {
    const CliResult r = cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_TRUE(has(r.out, std::string("usage: scratchcnn ") + cmd)) << r.out;
  }
  const CliResult top = cli("--help");
  EXPECT_EQ(top.code, 0);
  EXPECT_TRUE(has(top.out, "commands:"));
  EXPECT_TRUE(has(cli("train --help").out, "--metrics FILE"));
  EXPECT_TRUE(has(cli("compare --help").out, "--json FILE"));
}

TEST(Cli, BadCommandLinesExitWithTwoAndUsage) {
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"", "usage: scratchcnn <command>"},
      {"fly", "unknown command 'fly'"},
      {"train --bogus 1", "unknown flag --bogus"},
      {"train --epochs abc", "--epochs: 'abc' is not an integer"},
      {"train --epochs -1", "--epochs: -1 is outside 0.."},
      {"train --batch 0", "--batch: 0 is outside 1.."},
      {"train --lr nan", "--lr: 'nan' is not a finite number"},
      {"train --lr -0.5", "--lr: -0.5 is outside"},
      {"train --path gpu", "'gpu' is not a path (reference or fast)"},
      {"train --threads 0", "--threads: 0 is outside 1.."},
      {"train --input 1x8", "--input: '1x8' is not of the form CxHxW"},
      {"train --epochs", "--epochs needs a value"},
      {"train --epochs 1 --epochs 2", "--epochs given twice"},
      {"train extra", "unexpected argument 'extra'"},
      {"info --model seed --help=1", "--help takes no value"},
  };
  for (const auto& c : cases) {
    const CliResult r = cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    const std::string all = r.out + r.err;
    EXPECT_TRUE(has(all, c.message)) << c.args << "\n" << all;
    // One line of error and one pointer to the flags, not the whole usage text.
    if (!c.args.empty()) {
      EXPECT_TRUE(has(r.err, "--help' for the")) << c.args << "\n" << r.err;
      EXPECT_FALSE(has(r.err, "usage:")) << c.args;
    }
  }
}

TEST(Cli, UsageErrorsSuggestAndQuote) {
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"trian", "unknown command 'trian' (did you mean train?)"},
      {"train --eopchs 3", "unknown flag --eopchs (did you mean --epochs?)"},
      {"train --max-los 3", "unknown flag --max-los (did you mean --max-loss?)"},
      {"train --zzzzzz 3", "unknown flag --zzzzzz\n"},
      // Bounds as a reader writes them, not 0.000000..300000000000000000000000000000000000000.
      {"train --lr -1", "--lr: -1 is outside 0..3e+38\n"},
      {"train --momentum 1.5", "--momentum: 1.5 is outside 0..1\n"},
      // A huge or binary value is quoted, escaped and cut.
      {"train --epochs " + std::string(5000, '7'), "'7777777777777777777777777777777777777777...' (5000 bytes)"},
      {"train --lr \"$(printf '\\001\\377')\"", "--lr: '\\x01\\xff' is not a finite number"},
  };
  for (const auto& c : cases) {
    const CliResult r = cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args;
    EXPECT_TRUE(has(r.err, c.message)) << c.args << "\n" << r.err;
    EXPECT_LT(r.err.size(), 300u) << c.args;
  }
  const CliResult v = cli("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("scratchcnn ", 0), 0u) << v.out;
  EXPECT_TRUE(has(v.out, SCRATCHCNN_TEST_VERSION)) << v.out;
}

TEST(Cli, InfoPrintsLayersAndTotals) {
  const CliResult r = cli("info --model seed");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "maxpool(2)")) << r.out;
  EXPECT_TRUE(has(r.out, "4x4x4"));
  EXPECT_TRUE(has(r.out, "2,506"));   // parameters
  EXPECT_TRUE(has(r.out, "16,928"));  // forward FLOPs per sample
  const CliResult l = cli("info --model lenet5");
  EXPECT_TRUE(has(l.out, "61,706")) << l.out;
  EXPECT_TRUE(has(l.out, "16x5x5"));
}

TEST(Cli, TableIModelIsRefusedNamingTheMismatch) {
  const CliResult r = cli(
      "info --model 'conv(1,2,k=3,pad=1) relu conv(2,4,k=3,pad=1) relu maxpool(4) flatten "
      "dense(64,32) relu dense(32,10)'");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "layer 7 'dense(64,32)': expects 64 inputs, gets 16")) << r.err;
}

TEST(Cli, TrainWritesMetricsAndParametersThatLoadAgain) {
  const std::string data = tiny_data();
  const std::string out = test::temp_dir("cli-train");
  const CliResult r = cli("train --path reference --data " + data + " --epochs 3 --batch 16 --metrics " +
                       out + "/m.csv --save " + out + "/p.bin");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "epoch       loss  train_acc   test_acc    seconds")) << r.out;
  const std::string csv = slurp(out + "/m.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,loss,train_accuracy,test_accuracy,seconds");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = load_parameters(out + "/p.bin", spec);
  EXPECT_NE(p, Parameters::he_uniform(spec, 1));
  // Same seed, same run: byte-identical parameter file.
  ASSERT_EQ(cli("train --path reference --data " + data + " --epochs 3 --batch 16 --save " + out +
                "/q.bin").code, 0);
  EXPECT_EQ(read_file(out + "/p.bin"), read_file(out + "/q.bin"));
  // Starting from the saved parameters with 0 epochs keeps them (--save writes a checkpoint, whose
  // training state differs: 0 epochs done).
  ASSERT_EQ(cli("train --path reference --data " + data + " --epochs 0 --init " + out +
                "/p.bin --save " + out + "/r.bin").code, 0);
  EXPECT_EQ(load_parameters(out + "/p.bin", spec), load_parameters(out + "/r.bin", spec));
}

TEST(Cli, FailuresExitWithOneAndWriteNothing) {
  const std::string data = tiny_data();
  const std::string out = test::temp_dir("cli-fail");
  // Model and data disagree.
  CliResult r = cli("train --model lenet5 --data " + data + " --metrics " + out + "/m.csv");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "holds 1x8x8 images")) << r.err;
  // Missing data folder.
  r = cli("train --data " + out + "/nowhere");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "nowhere")) << r.err;
  // A bad row names file and line.
  const std::string bad = test::temp_dir("cli-bad");
  fs::copy(data + "/optdigits.tes", bad + "/optdigits.tes");
  {
    std::ofstream f(bad + "/optdigits.tra");
    for (int i = 0; i < 64; ++i) f << (i ? "," : "") << 1;
    f << ",12\n";
  }
  r = cli("train --data " + bad);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "optdigits.tra:1:")) << r.err;
  // Output folder that does not exist: refused before training.
  r = cli("train --data " + data + " --metrics " + out + "/no/m.csv");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "does not exist")) << r.err;
  EXPECT_FALSE(has(r.out, "epoch "));
  // A parameter file for another model.
  const ModelSpec other = model_from_name("flatten dense(64,10)");
  save_parameters(out + "/other.bin", other, Parameters::he_uniform(other, 1));
  r = cli("train --data " + data + " --init " + out + "/other.bin");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "made for model '1x8x8: flatten dense(64,10)'")) << r.err;
  EXPECT_FALSE(fs::exists(out + "/m.csv"));
}

TEST(Cli, DivergingTrainingStopsWithEpochAndBatchAndWritesNothing) {
  const std::string data = tiny_data();
  const std::string out = test::temp_dir("cli-nan");
  for (const char* path : {"reference", "fast"}) {
    const CliResult r = cli(std::string("train --path ") + path + " --data " + data +
                         " --epochs 5 --batch 8 --lr 1e20 --metrics " + out + "/m.csv --save " +
                         out + "/p.bin");
    EXPECT_EQ(r.code, 1) << path << "\n" << r.out << r.err;
    EXPECT_TRUE(has(r.err, "training stopped at epoch ")) << r.err;
    EXPECT_TRUE(has(r.err, ", batch ")) << r.err;
    EXPECT_FALSE(fs::exists(out + "/m.csv"));
    EXPECT_FALSE(fs::exists(out + "/p.bin"));
  }
}

// lr 100 does not reach a NaN on this model (it drives the loss to ~40-90 and kills every ReLU);
// the divergence limit (default 10 ln 10 = 23) stops it, and the checkpoint already at --save (a
// copy of the good run that --init started from; --init and --save may not share a file) stays
// byte for byte as it was.
TEST(Cli, LearningRate100StopsAtTheDivergenceLimitAndKeepsTheLastGoodCheckpoint) {
  const std::string data = tiny_data();
  const std::string out = test::temp_dir("cli-diverge");
  for (const char* path : {"reference", "fast"}) {
    const std::string ckpt = out + "/" + path + ".ckpt", next = out + "/" + path + ".next.ckpt";
    CliResult r = cli(std::string("train --path ") + path + " --data " + data +
                      " --epochs 2 --batch 8 --save " + ckpt);
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string good = slurp(ckpt);
    ASSERT_FALSE(good.empty());
    fs::copy_file(ckpt, next);
    r = cli(std::string("train --path ") + path + " --data " + data + " --init " + ckpt +
            " --epochs 3 --batch 8 --lr 100 --save " + next + " --metrics " + out + "/m.csv");
    EXPECT_EQ(r.code, 1) << path << "\n" << r.out << r.err;
    EXPECT_TRUE(has(r.err, "training stopped at epoch 1, batch ")) << r.err;
    EXPECT_TRUE(has(r.err, "exceeds the divergence limit 23.0259")) << r.err;
    EXPECT_EQ(slurp(next), good) << path << ": the checkpoint changed";
    EXPECT_FALSE(fs::exists(out + "/m.csv"));
    // --max-loss 0 turns the limit off: the same run then finishes with its finite, useless loss.
    r = cli(std::string("train --path ") + path + " --data " + data +
            " --epochs 1 --batch 8 --lr 100 --max-loss 0");
    EXPECT_EQ(r.code, 0) << r.err;
  }
}

TEST(Cli, CompareJudgesEpochSyncedParityAndWritesEveryKey) {
  const std::string data = tiny_data();
  const std::string out = test::temp_dir("cli-compare");
  const CliResult r = cli("compare --data " + data + " --epochs 3 --batch 8 --json " + out + "/c.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "parity: OK (epoch-synced")) << r.out;
  EXPECT_TRUE(has(r.out, "free-running: max relative loss difference")) << r.out;
  const std::string json = slurp(out + "/c.json");
  for (const std::string& key : std::initializer_list<std::string>
       {"\"epochs\": 3", "\"loss_reference\"", "\"loss_fast\"", "\"test_accuracy_reference\"",
        "\"test_accuracy_fast\"", "\"loss_fast_synced\"", "\"test_accuracy_fast_synced\"",
        "\"max_loss_rel_diff\"", "\"max_test_accuracy_diff\"", "\"max_loss_rel_diff_free_running\"",
        "\"final_test_accuracy_diff_free_running\"", "\"max_param_abs_diff_free_running\"",
        "\"seconds_reference\"", "\"seconds_fast\"", "\"speedup\"", "\"isa\"",
        "\"bits\": \"" + scratchcnn::fast::active_bit_class() + "\""})
    EXPECT_TRUE(has(json, key)) << key << "\n" << json;
}
