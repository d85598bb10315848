// The tool's structure as a user meets it: the command table, --quiet, the threads a run really
// uses, the progress line at any terminal width, --model from a file; and load_model, the library
// function behind eval, predict and examples/classify.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include <climits>
#include <sstream>
#include <fstream>

#include "cli/progress.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"
#include "core/text.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

// A small learnable optdigits folder: 40 rows each in optdigits.tra and optdigits.tes.
std::string small_data() { return learnable_optdigits("polish-data", 3, 40, 40); }

CliResult run_cli(const std::string& args) { return test::cli(args); }

}  // namespace

TEST(CliPolish, CommandTableDrivesUsageDispatchHelpAndSuggestions) {
  const CliResult usage = run_cli("--help");
  ASSERT_EQ(usage.code, 0);
  for (const char* line : {"  train     train a model", "  compare   train the reference",
                           "  eval      accuracy", "  predict   predicted labels",
                           "  export    write a checkpoint's model as an ONNX file", "  info      print"})
    EXPECT_TRUE(has(usage.out, line)) << line << "\n" << usage.out;
  // -h is help for every command (before: "unexpected argument '-h'", exit 2).
  for (const char* cmd : {"train", "compare", "eval", "predict", "export", "info"}) {
    const CliResult r = run_cli(std::string(cmd) + " -h");
    EXPECT_EQ(r.code, 0) << cmd << r.err;
    EXPECT_TRUE(has(r.out, std::string("usage: scratchcnn ") + cmd)) << r.out;
  }
  const CliResult help = run_cli("help eval");
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(has(help.out, "usage: scratchcnn eval")) << help.out;
  const CliResult typo = run_cli("predcit");
  EXPECT_EQ(typo.code, 2);
  EXPECT_TRUE(has(typo.err, "(did you mean predict?)")) << typo.err;
}

TEST(CliPolish, LoadModelReadsCheckpointsAndParameterFiles) {
  const std::string dir = temp_dir("polish-load");
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = Parameters::he_uniform(spec, 7);
  save_parameters(dir + "/p.bin", spec, p);
  TrainingState state;
  state.options.seed = 42;
  state.isa = "sse4.2";
  state.velocity = Parameters::zeros(spec);
  save_checkpoint(dir + "/c.ckpt", spec, p, state);

  const LoadedModel fromp = load_model(dir + "/p.bin");
  EXPECT_FALSE(fromp.state.has_value());
  EXPECT_EQ(fromp.spec.full_text(), spec.full_text());
  EXPECT_EQ(fromp.params, p);
  EXPECT_EQ(fromp.network_options().conv, ConvAlgo::Auto);
  const LoadedModel fromc = load_model(dir + "/c.ckpt");
  ASSERT_TRUE(fromc.state.has_value());
  EXPECT_EQ(fromc.spec.full_text(), spec.full_text());
  EXPECT_EQ(fromc.params, p);
  EXPECT_EQ(fromc.state->options.seed, 42u);
  EXPECT_EQ(fromc.state->isa, "sse4.2");
  write_file(dir + "/bad.bin", "not a model file at all");
  EXPECT_TRUE(has(error_of([&] { load_model(dir + "/bad.bin"); }), dir + "/bad.bin"));
}

// examples/classify.cpp read only parameter files: a checkpoint from train --save was refused as
// "not a parameter file" though its comment promised both.
TEST(CliPolish, ExampleClassifyReadsACheckpoint) {
  const std::string dir = temp_dir("polish-classify");
  const ModelSpec spec = model_from_name("seed");
  TrainingState state;
  state.velocity = Parameters::zeros(spec);
  save_checkpoint(dir + "/c.ckpt", spec, Parameters::he_uniform(spec, 1), state);
  const CliResult r = run_command(std::string(SCRATCHCNN_EXAMPLE_CLASSIFY_PATH) + " " + dir +
                                  "/c.ckpt " + optdigits_rows_file());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "\n1 ")) << r.out.substr(0, 200);
}

TEST(CliPolish, QuietTrainPrintsNothingAndWritesTheSameFiles) {
  const std::string data = small_data(), dir = temp_dir("polish-quiet");
  const std::string common = "train --data " + data + " --epochs 2 --batch 16 --threads 1 ";
  const CliResult loud = run_cli(common + "--save " + dir + "/a.ckpt --metrics " + dir + "/a.csv");
  ASSERT_EQ(loud.code, 0) << loud.err;
  ASSERT_TRUE(has(loud.out, "epoch       loss")) << loud.out;
  const CliResult quiet =
      run_cli(common + "--quiet --save " + dir + "/b.ckpt --metrics " + dir + "/b.csv");
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(slurp(dir + "/a.ckpt"), slurp(dir + "/b.ckpt"));
  const std::string a = slurp(dir + "/a.csv"), b = slurp(dir + "/b.csv");
  EXPECT_EQ(a.substr(0, a.find('\n')), b.substr(0, b.find('\n')));
  EXPECT_EQ(std::count(b.begin(), b.end(), '\n'), 3) << b;
  // No note either, such as the one on a capped OMP_NUM_THREADS.
  {
    const EnvVar omp("OMP_NUM_THREADS", "2000");
    ASSERT_TRUE(has(run_cli("train --epochs 0 --data " + data).err, "asks for 2000 threads"));
    const CliResult capped = run_cli("train --quiet --epochs 0 --data " + data);
    EXPECT_EQ(capped.code, 0) << capped.err;
    EXPECT_EQ(capped.out + capped.err, "");
  }
  // Errors still reach stderr.
  const CliResult bad = run_cli("train --quiet --epochs 1 --data " + dir + "/no-such-folder");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(has(bad.err, "no-such-folder")) << bad.err;
}

// compare, eval and predict take --quiet too: nothing but their requested outputs (predict's
// predictions are its output), the same bytes in --json and --csv, and errors still on stderr.
TEST(CliPolish, QuietCompareEvalAndPredictKeepOnlyWhatWasAskedFor) {
  const std::string data = small_data(), dir = temp_dir("polish-quiet2");
  ASSERT_EQ(run_cli("train --quiet --data " + data + " --epochs 1 --batch 16 --save " + dir +
                    "/m.ckpt").code, 0);
  const std::string cmp = "compare --data " + data + " --epochs 1 --batch 16 --threads 1 ";
  const CliResult loud_cmp = run_cli(cmp + "--json " + dir + "/a.json");
  ASSERT_EQ(loud_cmp.code, 0) << loud_cmp.err;
  ASSERT_TRUE(has(loud_cmp.out, "parity: OK")) << loud_cmp.out;
  const CliResult quiet_cmp = run_cli(cmp + "--quiet --json " + dir + "/b.json");
  ASSERT_EQ(quiet_cmp.code, 0) << quiet_cmp.err;
  EXPECT_EQ(quiet_cmp.out + quiet_cmp.err, "");
  EXPECT_TRUE(has(slurp(dir + "/b.json"), "\"loss_fast_synced\"")) << slurp(dir + "/b.json");

  const std::string ev = "eval --checkpoint " + dir + "/m.ckpt --data " + data + " ";
  const CliResult loud_ev = run_cli(ev + "--json " + dir + "/a.ev --csv " + dir + "/a.csv");
  ASSERT_EQ(loud_ev.code, 0) << loud_ev.err;
  ASSERT_TRUE(has(loud_ev.out, "accuracy")) << loud_ev.out;
  const CliResult quiet_ev = run_cli(ev + "--quiet --json " + dir + "/b.ev --csv " + dir + "/b.csv");
  ASSERT_EQ(quiet_ev.code, 0) << quiet_ev.err;
  EXPECT_EQ(quiet_ev.out + quiet_ev.err, "");
  EXPECT_EQ(slurp(dir + "/a.ev"), slurp(dir + "/b.ev"));
  EXPECT_EQ(slurp(dir + "/a.csv"), slurp(dir + "/b.csv"));

  const std::string pr = "predict --checkpoint " + dir + "/m.ckpt " + data + "/optdigits.tes";
  const CliResult loud_pr = run_cli(pr);
  ASSERT_EQ(loud_pr.code, 0) << loud_pr.err;
  ASSERT_TRUE(has(loud_pr.err, "accuracy")) << loud_pr.err;
  const CliResult quiet_pr = run_cli(pr + " --quiet");
  ASSERT_EQ(quiet_pr.code, 0) << quiet_pr.err;
  EXPECT_EQ(quiet_pr.out, loud_pr.out);
  EXPECT_EQ(quiet_pr.err, "");

  const CliResult bad = run_cli("eval --quiet --checkpoint " + dir + "/no-such.ckpt --data " + data);
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(has(bad.err, "no-such.ckpt")) << bad.err;
}

// The header said "2 threads" for --threads 2 though a step of one 16-sample chunk runs on one
// thread, and the reference path always runs on one.
TEST(CliPolish, HeaderReportsTheThreadsARunReallyUses) {
  const std::string data = small_data();
  const std::string common = "train --data " + data + " --epochs 0 --batch 16 --threads 2 ";
  const CliResult seed = run_cli(common + "--path fast");
  ASSERT_EQ(seed.code, 0) << seed.err;
  EXPECT_TRUE(has(seed.out, "path fast, 1 of 2 threads (steps too small for more), 0 epochs")) << seed.out;
  const CliResult ref = run_cli(common + "--path reference");
  ASSERT_EQ(ref.code, 0) << ref.err;
  EXPECT_TRUE(has(ref.out, "path reference, 1 thread (the reference path runs on one)")) << ref.out;
  // A model with enough work per step uses both.
  const std::string big = "\"conv(1,32,k=5,pad=2) relu flatten dense(2048,10)\"";
  EXPECT_EQ(step_threads(PathKind::Fast, model_from_name(big.substr(1, big.size() - 2)), 128, 2), 2);
  // (with a full batch of 128: a step never holds more than the training set)
  const std::string data128 = learnable_optdigits("polish-data-128", 3, 128, 40);
  const CliResult wide =
      run_cli("train --data " + data128 + " --epochs 0 --threads 2 --path fast --model " + big);
  ASSERT_EQ(wide.code, 0) << wide.err;
  EXPECT_TRUE(has(wide.out, "path fast, 2 threads, 0 epochs")) << wide.out;
  // Without --threads (or with --threads auto) the count is chosen per step, up to OpenMP's.
  for (const char* flag : {"", "--threads auto "}) {
    const CliResult adaptive = test::run_command(std::string("OMP_NUM_THREADS=2 '") + SCRATCHCNN_CLI_PATH +
                                                 "' train --data " + data128 + " --epochs 0 " + flag +
                                                 "--path fast --model " + big);
    ASSERT_EQ(adaptive.code, 0) << adaptive.err;
    EXPECT_TRUE(has(adaptive.out, "path fast, 1-2 threads (adaptive: the fastest count, measured), 0 epochs"))
        << flag << adaptive.out;
  }
  // The seed model: 6.4 MFLOP at batch 128 pays for a second thread (1 per MFLOP of work);
  // 1.6 MFLOP at batch 32 does not, and one chunk never gets two.
  EXPECT_EQ(step_threads(PathKind::Fast, model_from_name("seed"), 128, 2), 2);
  EXPECT_EQ(step_threads(PathKind::Fast, model_from_name("seed"), 32, 2), 1);
  EXPECT_EQ(step_threads(PathKind::Fast, model_from_name("seed"), 16, 8), 1);
  EXPECT_EQ(step_threads(PathKind::Reference, model_from_name(big.substr(1, big.size() - 2)), 128, 8), 1);
}

TEST(CliPolish, ProgressLineFitsTheTerminalWidth) {
  scratchcnn::cli::ProgressState s{12, 100, 1234, 5000, 98765.4, 4000, 3600};
  for (const int width : {1, 20, 40, 60, 80, 120, 200}) {
    const std::string line = scratchcnn::cli::progress_line(s, width);
    EXPECT_LE(int(line.size()), std::max(width - 1, 0)) << width << ": " << line;
  }
  const std::string wide = scratchcnn::cli::progress_line(s, 200);
  EXPECT_TRUE(has(wide, "[" + std::string(7, '#') + std::string(23, '.') + "]")) << wide;
  EXPECT_TRUE(has(wide, "(run 60:00 min)")) << wide;
  const std::string mid = scratchcnn::cli::progress_line(s, 80);
  EXPECT_TRUE(has(mid, "#")) << mid;
  EXPECT_TRUE(has(mid, "1234/5000 batches")) << mid;
  const std::string narrow = scratchcnn::cli::progress_line(s, 40);
  EXPECT_EQ(narrow, "epoch 12/100 1234/5000 batches");  // whole parts only, no bar
}

TEST(CliPolish, ModelFromAFile) {
  const std::string dir = temp_dir("polish-model");
  const std::string text = "conv(1,4,k=3,pad=1) relu maxpool(2) flatten dense(64,10)";
  write_file(dir + "/m.txt", text + "\n");
  const CliResult inline_ = run_cli("info --model \"" + text + "\"");
  ASSERT_EQ(inline_.code, 0) << inline_.err;
  const CliResult at = run_cli("info --model @" + dir + "/m.txt");
  EXPECT_EQ(at.code, 0) << at.err;
  EXPECT_EQ(at.out, inline_.out);
  const CliResult path = run_cli("info --model " + dir + "/m.txt");
  EXPECT_EQ(path.code, 0) << path.err;
  EXPECT_EQ(path.out, inline_.out);
  const CliResult missing = run_cli("info --model @" + dir + "/none.txt");
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(has(missing.err, "--model")) << missing.err;
  EXPECT_TRUE(has(missing.err, dir + "/none.txt")) << missing.err;
  EXPECT_FALSE(has(missing.err, "--model: --model")) << missing.err;
  // Train takes it too, with the same result as the inline text.
  const std::string data = small_data(), run = "train --data " + data + " --epochs 1 --batch 16 ";
  ASSERT_EQ(run_cli(run + "--model @" + dir + "/m.txt --save " + dir + "/a.ckpt").code, 0);
  ASSERT_EQ(run_cli(run + "--model \"" + text + "\" --save " + dir + "/b.ckpt").code, 0);
  EXPECT_EQ(slurp(dir + "/a.ckpt"), slurp(dir + "/b.ckpt"));
  // Bounded: more than the model-text cap is refused naming the file.
  write_file(dir + "/big.txt", std::string(kMaxModelText + 1, ' '));
  const CliResult big = run_cli("info --model @" + dir + "/big.txt");
  EXPECT_EQ(big.code, 1);
  EXPECT_TRUE(has(big.err, "big.txt: longer than")) << big.err;
}

// One thousands separator for the library and the tool; the tool's negated the most negative
// value (undefined behaviour).
TEST(CliPolish, WithCommasAndTrim) {
  EXPECT_EQ(with_commas(0), "0");
  EXPECT_EQ(with_commas(1797), "1,797");
  EXPECT_EQ(with_commas(-1234567), "-1,234,567");
  EXPECT_EQ(with_commas(LLONG_MIN), "-9,223,372,036,854,775,808");
  EXPECT_EQ(trim(" \t a b \r\n"), "a b");
  EXPECT_EQ(trim(" \t a b \r\n", " \t"), "a b \r\n");
  EXPECT_EQ(trim("   "), "");
}

// info lists the kernel the fast path runs for every layer (Network::describe), one line each.
TEST(CliPolish, InfoShowsTheFastPathLayerByLayer) {
  const CliResult r = run_cli("info --model lenet5");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::size_t at = r.out.find("fast path by layer:\n");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  conv(1,6,k=5,pad=2): direct +relu, ", at), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  relu: fused into the layer before\n", at), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  flatten: view\n", at), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  dense(84,10): direct, ", at), std::string::npos) << r.out;
}

// The file --model names is an input like any other: an output on it is refused before any work
// (it used to be replaced by the checkpoint, the CSV or the JSON with exit 0).
TEST(CliPolish, AnOutputOnTheModelFileIsRefused) {
  const std::string data = small_data(), dir = temp_dir("polish-model-alias");
  const std::string text = "conv(1,2,k=3) relu maxpool(2) flatten dense(18,10)\n";
  write_file(dir + "/m.txt", text);
  for (const std::string& cmd :
       {"train --model @" + dir + "/m.txt --save " + dir + "/m.txt",
        "train --model " + dir + "/m.txt --metrics " + dir + "/m.txt",
        "compare --model @" + dir + "/m.txt --json " + dir + "/m.txt"}) {
    const CliResult r = run_cli(cmd + " --data " + data + " --epochs 1 --batch 16");
    EXPECT_EQ(r.code, 1) << cmd << "\n" << r.out << r.err;
    EXPECT_TRUE(has(r.err, "--model")) << r.err;
    EXPECT_EQ(r.out, "") << cmd;
    EXPECT_EQ(slurp(dir + "/m.txt"), text) << cmd;
  }
}

// Errors in a model file's text name the file; "@" with no name is a usage error.
TEST(CliPolish, ModelFileErrorsNameTheFile) {
  const std::string dir = temp_dir("polish-model-errors");
  write_file(dir + "/bad.txt", "conv(1,3,k=3) bogus(2) flatten dense(48,10)\n");
  const CliResult bad = run_cli("info --model @" + dir + "/bad.txt");
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(has(bad.err, "--model " + dir + "/bad.txt: layer 2")) << bad.err;
  write_file(dir + "/empty.txt", "");
  const CliResult empty = run_cli("info --model " + dir + "/empty.txt");
  EXPECT_EQ(empty.code, 1);
  EXPECT_TRUE(has(empty.err, dir + "/empty.txt")) << empty.err;
  const CliResult at = run_cli("info --model @");
  EXPECT_EQ(at.code, 2);
  EXPECT_TRUE(has(at.err, "a file name must follow the @")) << at.err;
}

// help takes one known command; -h is --help wherever a flag may stand.
TEST(CliPolish, HelpWordsAndDashH) {
  for (const char* args : {"help bogus", "help Train", "help train extra"}) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_EQ(r.out, "") << args;
  }
  EXPECT_TRUE(has(run_cli("help bogus").err, "unknown command 'bogus'"));
  const std::string train_help = run_cli("train --help").out;
  ASSERT_TRUE(has(train_help, "usage: scratchcnn train"));
  for (const char* args : {"train --epochs 1 -h", "help train", "train -h --epochs 1"}) {
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.code, 0) << args << r.err;
    EXPECT_EQ(r.out, train_help) << args;
  }
  const CliResult eval = run_cli("eval --checkpoint x -h");
  EXPECT_EQ(eval.code, 0) << eval.err;
  EXPECT_TRUE(has(eval.out, "usage: scratchcnn eval")) << eval.out;
}

// A step never holds more than the training set: the header's threads follow the step, not --batch.
TEST(CliPolish, HeaderThreadsFollowTheStepNotALargerBatch) {
  const std::string data = small_data();
  const auto run_line = [&](const std::string& batch) {
    const std::string out =
        run_cli("train --epochs 0 --threads 64 --batch " + batch + " --data " + data).out;
    const std::size_t at = out.find("run     path");
    return at == std::string::npos ? out : out.substr(at, out.find(", 0 epochs", at) - at);
  };
  EXPECT_EQ(run_line("5000"), run_line("40"));
}

// A command whose standard output cannot be written fails: its output was the result.
TEST(CliPolish, AFailedWriteToStandardOutputIsAnError) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  const std::string data = small_data(), dir = temp_dir("polish-full");
  ASSERT_EQ(run_cli("train --quiet --data " + data + " --epochs 1 --save " + dir + "/m.ckpt").code, 0);
  const std::string cli = std::string("'") + SCRATCHCNN_CLI_PATH + "' ";
  for (const std::string& args : {"predict --checkpoint " + dir + "/m.ckpt " + data + "/optdigits.tes",
                                  "eval --checkpoint " + dir + "/m.ckpt --data " + data,
                                  std::string("info")}) {
    const CliResult r = run_command("{ " + cli + args + " >/dev/full; }");
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_TRUE(has(r.err, "writing standard output failed")) << r.err;
  }
}

// Every help text fits a 100-column terminal without wrapping.
TEST(CliPolish, HelpTextsFitOneHundredColumns) {
  for (const char* args :
       {"--help", "train --help", "compare --help", "eval --help", "predict --help", "export --help",
        "info --help"}) {
    const CliResult r = run_cli(args);
    ASSERT_EQ(r.code, 0) << args;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
      EXPECT_LE(line.size(), 99u) << args << ": " << line;
  }
}

// A built-in model keeps its defaults however it is spelled: LeNet-5's text (inline or from a
// file) trains with lenet5's batch, learning rate and data folder, as its checkpoint's resume and
// eval always did.
TEST(CliPolish, LeNetTextGetsLeNetDefaults) {
  const std::string text = model_from_name("lenet5").text();
  const std::string dir = temp_dir("polish-lenet-text");
  write_file(dir + "/lenet.txt", text + "\n");
  for (const std::string& model : {"'" + text + "'", "@" + dir + "/lenet.txt"}) {
    const CliResult r = run_cli("train --epochs 0 --input 1x28x28 --model " + model);
    EXPECT_TRUE(has(r.out + r.err, "fashion-mnist")) << model << "\n" << r.out << r.err;
    if (r.code == 0) {
      EXPECT_TRUE(has(r.out, "batch 32, lr 0.05")) << r.out;
    }
  }
}
