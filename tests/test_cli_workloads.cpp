// The command-line tool on real-workload features: IDX data, per-model defaults, checkpoints that
// resume bit for bit and survive SIGKILL, eval and predict. Small IDX files written here.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

// Learnable side x side images: label l = i % 10 lights every pixel whose index is l modulo 10.
void write_idx(const std::string& images, const std::string& labels, int n, int side,
               std::uint64_t seed) {
  Rng rng(seed);
  const auto s = std::uint32_t(side);
  std::ofstream(images, std::ios::binary)
      << idx_images_bytes(std::uint32_t(n), s, s, [&](std::uint32_t i, std::uint32_t y, std::uint32_t x) {
           const bool lit = (y * s + x) % 10 == i % 10;
           return static_cast<unsigned char>(lit ? 255 : static_cast<int>(rng.below(60)));
         });
  std::ofstream(labels, std::ios::binary) << labels_bytes(std::uint32_t(n));
}

// An MNIST-style folder of side x side images.
std::string idx_data(int side = 8, int train = 60, int test = 30) {
  const std::string dir = test::temp_dir("wl-idx");
  write_idx(dir + "/train-images-idx3-ubyte", dir + "/train-labels-idx1-ubyte", train, side, 1);
  write_idx(dir + "/t10k-images-idx3-ubyte", dir + "/t10k-labels-idx1-ubyte", test, side, 2);
  return dir;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The CSV without its seconds column.
std::string without_seconds(const std::string& csv) {
  std::string out;
  for (const auto& l : lines(csv)) out += l.substr(0, l.rfind(',')) + "\n";
  return out;
}

const char* kOpts = " --batch 16 --momentum 0.9 --weight-decay 0.001 --lr 0.05 --seed 7";

}  // namespace

TEST(CliWorkloads, HelpForEvalAndPredictAndNewTrainFlags) {
  for (const char* cmd : {"eval", "predict"}) {
    const CliResult r = cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_TRUE(has(r.out, std::string("usage: scratchcnn ") + cmd)) << r.out;
  }
  const std::string train = cli("train --help").out;
  for (const char* flag : {"--resume FILE", "--momentum X", "--weight-decay X", "(default 10 | 5 | 10)"})
    EXPECT_TRUE(has(train, flag)) << flag;
  EXPECT_TRUE(has(cli("--help").out, "predict"));
}

TEST(CliWorkloads, BadCommandLinesExitWithTwo) {
  const std::string cases[] = {"eval",
                               "eval --checkpoint x --split val",
                               "predict --checkpoint x",
                               "predict --checkpoint x --labels y a b",
                               "predict in.idx",
                               "train --resume a --init b",
                               "train --momentum 1.5",
                               "train --weight-decay -1"};
  for (const auto& c : cases) {
    const CliResult r = cli(c);
    EXPECT_EQ(r.code, 2) << c << "\n" << r.err;
    EXPECT_TRUE(has(r.err, "--help' for the flags")) << c;
  }
}

TEST(CliWorkloads, TrainsOnIdxDataWithPerModelDefaults) {
  const std::string data = idx_data();
  CliResult r = cli("train --data " + data + " --epochs 2 --batch 16");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "train-images-idx3-ubyte: 60 training, 30 test samples")) << r.out;
  // lenet5's own defaults, on 28x28 images.
  const std::string big = idx_data(28, 40, 20);
  r = cli("train --model lenet5 --data " + big + " --epochs 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "1 epochs, batch 32, lr 0.05, seed 1")) << r.out;
  r = cli("train --model lenet5 --data " + data);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "holds 1x8x8 images")) << r.err;
}

// A 2-epoch checkpoint resumed to 4 epochs ends with the bytes of an uninterrupted 4-epoch run.
TEST(CliWorkloads, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  const std::string data = idx_data();
  const std::string out = test::temp_dir("wl-resume");
  for (const char* path : {"fast", "reference"}) {
    SCOPED_TRACE(path);
    const std::string base = std::string("train --path ") + path + " --data " + data + kOpts;
    ASSERT_EQ(cli(base + " --epochs 4 --save " + out + "/whole.bin --metrics " + out + "/whole.csv").code, 0);
    ASSERT_EQ(cli(base + " --epochs 2 --save " + out + "/part.bin").code, 0);
    EXPECT_EQ(load_checkpoint(out + "/part.bin").state.epoch, 2);
    // In place, options inherited from the checkpoint.
    const CliResult r = cli(std::string("train --path ") + path + " --data " + data + " --resume " +
                         out + "/part.bin --save " + out + "/part.bin --epochs 4 --metrics " + out +
                         "/part.csv");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(has(r.out, "2 epochs done")) << r.out;
    EXPECT_TRUE(has(r.out, "trained 2 epochs (3..4)")) << r.out;
    EXPECT_EQ(slurp(out + "/part.bin"), slurp(out + "/whole.bin"));
    // The resumed run's CSV has every epoch; the checkpoint's epochs have no seconds.
    const std::string csv = slurp(out + "/part.csv");
    EXPECT_EQ(without_seconds(csv), without_seconds(slurp(out + "/whole.csv")));
    const auto rows = lines(csv);
    ASSERT_EQ(rows.size(), 5u) << csv;
    EXPECT_EQ(rows[1].substr(rows[1].rfind(',')), ",nan");
    EXPECT_NE(rows[3].substr(rows[3].rfind(',')), ",nan");
    // Nothing left to train: the file stays byte for byte the same.
    ASSERT_EQ(cli("train --path " + std::string(path) + " --data " + data + " --resume " + out +
                  "/part.bin --save " + out + "/part.bin")
                  .code,
              0);
    EXPECT_EQ(slurp(out + "/part.bin"), slurp(out + "/whole.bin"));
  }
}

TEST(CliWorkloads, BadResumesAreRefusedAndLeaveTheFile) {
  const std::string data = idx_data();
  const std::string out = test::temp_dir("wl-bad");
  const std::string ck = out + "/c.bin";
  ASSERT_EQ(cli("train --data " + data + kOpts + " --epochs 2 --save " + ck).code, 0);
  const std::string good = slurp(ck);
  auto refused = [&](const std::string& bytes, const std::string& args, const std::string& message) {
    std::ofstream(ck, std::ios::binary | std::ios::trunc) << bytes;
    const CliResult r = cli("train --data " + data + " --resume " + ck + " --save " + ck + " " + args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_TRUE(has(r.err, message)) << args << "\n" << r.err;
    EXPECT_EQ(slurp(ck), bytes) << "the checkpoint was overwritten by a failed run: " << args;
  };
  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 1);
  refused(flipped, "--epochs 3", "checksum mismatch");
  refused(good.substr(0, good.size() - 3), "--epochs 3", "truncated");
  std::string newer = good.substr(0, good.size() - 8);
  newer[8] = 9;
  const std::uint64_t h = fnv1a64(newer.data(), newer.size());
  newer.append(reinterpret_cast<const char*>(&h), 8);
  refused(newer, "--epochs 3", "checkpoint version 9 is newer");
  refused(good, "--epochs 3 --model lenet5", "made for model");
  refused(good, "--epochs 3 --lr 0.1", "--lr 0.1 differs from the 0.05 that");
  refused(good, "--epochs 3 --seed 8", "--seed 8 differs from the 7");
  refused(good, "--epochs 1", "already holds 2 epochs");
  const ModelSpec seed = model_from_name("seed");
  refused(serialize_parameters(seed, Parameters::he_uniform(seed, 1)), "",
          "a parameter file, not a checkpoint");
  // Other data: other labels.
  std::ofstream(ck, std::ios::binary | std::ios::trunc) << good;
  const CliResult r = cli("train --data " + idx_data(8, 60, 20) + " --resume " + ck + " --epochs 3");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "was trained on data with 60 training and 30 test samples")) << r.err;
  EXPECT_EQ(slurp(ck), good);
}

// SIGKILL in the middle of a long run leaves the last complete checkpoint, and resuming from it
// gives the bytes of an uninterrupted run.
TEST(CliWorkloads, KilledRunLeavesALoadableCheckpointThatResumes) {
  const std::string data = idx_data();
  const std::string out = test::temp_dir("wl-kill");
  const std::string ck = out + "/c.bin";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(SCRATCHCNN_CLI_PATH, SCRATCHCNN_CLI_PATH, "train", "--data", data.c_str(), "--batch",
            "8", "--momentum", "0.5", "--threads", "1", "--epochs", "1000000", "--save", ck.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait for a checkpoint of at least 2 epochs, then kill somewhere inside a later epoch.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int seen = 0;
  while (seen < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!fs::exists(ck)) continue;
    try {
      seen = load_checkpoint(ck).state.epoch;
    } catch (const Error& e) {
      ADD_FAILURE() << "a checkpoint of a running training did not load: " << e.what();
      break;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the training ended by itself, status " << status;
  ASSERT_GE(seen, 2) << "no checkpoint within 60 s";

  const Checkpoint c = load_checkpoint(ck);
  const int done = c.state.epoch;
  EXPECT_GE(done, 2);
  EXPECT_EQ(c.state.options.epochs, 1000000);
  const std::string target = std::to_string(done + 1);
  const CliResult r = cli("train --data " + data + " --threads 1 --resume " + ck + " --save " + ck +
                       " --epochs " + target);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(load_checkpoint(ck).state.epoch, done + 1);
  ASSERT_EQ(cli("train --data " + data + " --batch 8 --momentum 0.5 --epochs " + target +
                " --save " + out + "/whole.bin")
                .code,
            0);
  EXPECT_EQ(slurp(ck), slurp(out + "/whole.bin"));
}

namespace {

// eval of checkpoint c.bin on data: the report, its CSV confusion matrix and its JSON. Sets the
// report and "(right of 30)" for the later steps.
void check_eval_report(const std::string& data, const std::string& out, std::string& report,
                       std::string& acc) {
  const CliResult r = cli("eval --checkpoint " + out + "/c.bin --data " + data + " --json " + out +
                          "/e.json --csv " + out + "/e.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  report = r.out;
  EXPECT_TRUE(has(r.out, "accuracy  ")) << r.out;
  EXPECT_TRUE(has(r.out, "class  precision  recall  support")) << r.out;
  EXPECT_TRUE(has(r.out, "confusion matrix (rows: true class, columns: predicted class)")) << r.out;
  const auto csv = lines(slurp(out + "/e.csv"));
  ASSERT_EQ(csv.size(), 11u);
  EXPECT_EQ(csv[0], "true,0,1,2,3,4,5,6,7,8,9");
  long total = 0, diagonal = 0;
  for (int t = 0; t < 10; ++t) {
    std::istringstream row(csv[std::size_t(t) + 1]);
    std::string field;
    std::getline(row, field, ',');
    EXPECT_EQ(field, std::to_string(t));
    for (int p = 0; std::getline(row, field, ','); ++p) {
      total += std::stol(field);
      if (p == t) diagonal += std::stol(field);
    }
  }
  EXPECT_EQ(total, 30);
  const std::string json = slurp(out + "/e.json");
  for (const char* key : {"\"accuracy\": ", "\"precision\": [", "\"recall\": [", "\"support\": [",
                          "\"confusion\": ["})
    EXPECT_TRUE(has(json, key)) << key << "\n" << json;
  char buf[64];
  std::snprintf(buf, sizeof buf, "(%ld of 30)", diagonal);
  acc = buf;
  EXPECT_TRUE(has(r.out, acc)) << r.out;
}

// A plain parameter file p.bin of the same weights gives the same report, less the checkpoint's
// bit class line.
void check_parameter_file_report(const std::string& data, const std::string& out,
                                 const std::string& checkpoint_report) {
  const Checkpoint c = load_checkpoint(out + "/c.bin");
  save_parameters(out + "/p.bin", c.spec, c.params);
  const CliResult rp = cli("eval --checkpoint " + out + "/p.bin --data " + data);
  ASSERT_EQ(rp.code, 0) << rp.err;
  std::string report = checkpoint_report.substr(0, checkpoint_report.find("wrote "));
  const std::size_t level = report.find("\nbits      trained in ");
  ASSERT_NE(level, std::string::npos) << report;
  report.erase(level + 1, report.find('\n', level + 1) - level);
  EXPECT_EQ(rp.out, report);
}

// predict: one line per sample, the same right answers (acc) as eval; --probs rows sum to 1 and
// their largest is the predicted label.
void check_predict(const std::string& data, const std::string& out, const std::string& acc) {
  const std::string images = data + "/t10k-images-idx3-ubyte", labels = data + "/t10k-labels-idx1-ubyte";
  CliResult r = cli("predict --checkpoint " + out + "/c.bin " + images + " --labels " + labels);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines(r.out).size(), 30u);
  EXPECT_TRUE(has(r.err, acc)) << r.err;
  r = cli("predict --checkpoint " + out + "/p.bin --probs " + images);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = lines(r.out);
  ASSERT_EQ(rows.size(), 30u);
  EXPECT_EQ(r.err, "");
  for (const auto& row : rows) {
    std::istringstream in(row);
    int label = -1;
    in >> label;
    double sum = 0, p = 0, best = -1;
    int best_at = -1;
    for (int j = 0; in >> p; ++j) {
      sum += p;
      if (p > best) best = p, best_at = j;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << row;
    EXPECT_EQ(label, best_at) << row;
  }
}

// An optdigits file (8x8, labels in the rows) works too; then the failures: a file that is
// neither, a model that does not fit, a missing checkpoint.
void check_predict_optdigits_and_failures(const std::string& data, const std::string& out) {
  {
    std::ofstream f(out + "/rows.csv");
    for (int r2 = 0; r2 < 5; ++r2) {
      for (int i = 0; i < 64; ++i) f << (i % 10 == r2 ? 16 : 1) << ",";
      f << r2 << "\n";
    }
  }
  CliResult r = cli("predict --checkpoint " + out + "/c.bin " + out + "/rows.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines(r.out).size(), 5u);
  EXPECT_TRUE(has(r.err, "of 5) against the labels of")) << r.err;
  std::ofstream(out + "/junk.txt") << "hello\n";
  r = cli("predict --checkpoint " + out + "/c.bin " + out + "/junk.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "junk.txt:1")) << r.err;
  r = cli("eval --checkpoint " + out + "/c.bin --data " + idx_data(28, 20, 10));
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "holds 1x28x28 images")) << r.err;
  r = cli("eval --checkpoint " + out + "/none.bin --data " + data);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "none.bin: cannot open")) << r.err;
}

// scripts/plot_confusion.py draws both of eval's files.
void check_plot_confusion(const std::string& out) {
  for (const char* in : {"e.json", "e.csv"}) {
    const std::string cmd = std::string("/usr/bin/python3 '") + SCRATCHCNN_SOURCE_DIR +
                            "/scripts/plot_confusion.py' " + out + "/" + in + " -o " + out +
                            "/" + in + ".png >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_EQ(slurp(out + "/" + in + ".png").substr(0, 4), "\x89PNG") << in;
  }
}

}  // namespace

TEST(CliWorkloads, EvalAndPredictReadCheckpointsAndParameterFiles) {
  const std::string data = idx_data();
  const std::string out = test::temp_dir("wl-eval");
  ASSERT_EQ(cli("train --data " + data + " --epochs 3 --batch 16 --save " + out + "/c.bin").code, 0);
  std::string report, acc;
  ASSERT_NO_FATAL_FAILURE(check_eval_report(data, out, report, acc));
  ASSERT_NO_FATAL_FAILURE(check_parameter_file_report(data, out, report));
  ASSERT_NO_FATAL_FAILURE(check_predict(data, out, acc));
  ASSERT_NO_FATAL_FAILURE(check_predict_optdigits_and_failures(data, out));
  // Where Debian's matplotlib is there to draw with.
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 has no matplotlib: plot_confusion.py not tried";
  }
  check_plot_confusion(out);
}
