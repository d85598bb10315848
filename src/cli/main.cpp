// The scratchcnn command-line tool: train, compare, info.
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "args.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/gemm.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/trainer.hpp"

namespace fs = std::filesystem;
using namespace scratchcnn;
using cli::Args;
using cli::UsageError;

namespace {

const char* kMainUsage = R"TXT(usage: scratchcnn <command> [flags]

Trains small convolutional networks on a CPU, on a slow reference path (the oracle) or the fast
path (im2col + SIMD GEMM + OpenMP), and compares the two.

commands:
  train     train a model and print per-epoch loss and accuracy
  compare   train the reference and the fast path from the same weights on the same batches
  info      print a model's layers, output shapes, parameter counts and FLOPs

Run 'scratchcnn <command> --help' for the flags of a command.
exit codes: 0 success, 1 failure (bad data, bad file, diverged training, broken parity),
            2 bad command line
)TXT";

const char* kTrainFlags = R"TXT(model:
  --model M        seed (default), lenet5, or model text such as
                   "conv(1,2,k=3,pad=1) relu maxpool(2) flatten dense(32,10)"
  --input CxHxW    input shape (default: 1x8x8 for seed and model text, 1x28x28 for lenet5)
  --init FILE      start from a parameter file written by --save (default: He-uniform from --seed)
data:
  --data DIR       folder with optdigits.tra + optdigits.tes, or digits.csv[.gz] (1,797 rows, then
                   split 80/20, stratified and seeded). Default: data (see scripts/fetch-data.sh)
training:
  --epochs N       epochs (default 10)
  --batch N        minibatch size (default 128; the last partial batch is used)
  --lr X           SGD learning rate (default 0.1)
  --seed N         seed for initial weights, shuffling and the data split (default 1)
  --threads N      OpenMP threads for the fast path (default: all cores, or OMP_NUM_THREADS)
)TXT";

const char* kTrainUsage = R"TXT(usage: scratchcnn train [flags]

Trains with plain minibatch SGD and softmax cross-entropy, printing one line per epoch: mean
training loss, training accuracy (each sample judged by its own training step's forward pass),
test accuracy after the epoch, and the seconds the epoch's training steps took.
A progress bar is drawn on stderr when stderr is a terminal.

%s  --path P         fast (default) or reference
output:
  --metrics FILE   write the per-epoch table as CSV: epoch,loss,train_accuracy,test_accuracy,seconds
  --save FILE      write the final parameters (versioned binary with a checksum)
Output files are written only when training succeeds, each atomically.
)TXT";

const char* kCompareUsage = R"TXT(usage: scratchcnn compare [flags]

Builds the reference and the fast path from the same parameters, trains both through the same
batches, and prints per-epoch loss and test accuracy of each, the largest relative per-epoch loss
difference, the largest absolute difference of any parameter at the end, the seconds of each and
the speedup. Exits with 1 when a parity rule is broken: a per-epoch loss differing by more than
1e-3 relative, or final test accuracies more than 0.2 percentage points apart.

%soutput:
  --json FILE      write the results as a JSON object (epochs, loss_reference, loss_fast,
                   test_accuracy_reference, test_accuracy_fast, max_loss_rel_diff,
                   max_param_abs_diff, seconds_reference, seconds_fast, speedup)
)TXT";

const char* kInfoUsage = R"TXT(usage: scratchcnn info [--model M] [--input CxHxW]

Prints every layer of the model with its output shape, parameter count and forward FLOPs per
sample (2 per multiply-add in conv and dense, 1 per element for relu, sigmoid and max-pool), the
totals, and the instruction set the fast kernels were compiled for.
)TXT";

std::string with_flags(const char* usage) {
  std::vector<char> buf(8192);
  std::snprintf(buf.data(), buf.size(), usage, kTrainFlags);
  return buf.data();
}

// Checks up front that `path` can be written later, so a long run does not fail at the end.
void check_output_path(const std::string& flag, const std::string& path) {
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(flag + " " + path + ": folder '" + dir.string() + "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    throw Error(flag + " " + path + ": folder '" + dir.string() + "' is not writable");
  if (fs::is_directory(p, ec)) throw Error(flag + " " + path + ": is a folder");
}

std::string fixed(double v, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string with_commas(long long v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

struct Setup {
  ModelSpec spec;
  std::string model_name;
  data::Split split;
  TrainOptions opt;
  Parameters init;
  int threads = 1;
};

const std::set<std::string> kTrainValued = {"--model", "--input", "--init", "--data", "--epochs",
                                            "--batch", "--lr", "--seed", "--threads"};

Setup read_setup(const Args& a) {
  Setup s;
  s.model_name = a.str("--model", "seed");
  Shape input{};
  const bool has_input = a.has("--input");
  if (has_input) {
    try {
      input = parse_shape(a.str("--input", ""), "--input");
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  s.opt.epochs = static_cast<int>(a.integer("--epochs", 10, 0, 1000000));
  s.opt.batch = static_cast<int>(a.integer("--batch", 128, 1, 1 << 20));
  s.opt.lr = static_cast<float>(a.real("--lr", 0.1, 0.0, 3.0e38));
  s.opt.seed = a.seed("--seed", 1);
  s.threads = static_cast<int>(a.integer("--threads", omp_get_max_threads(), 1, 1024));
  omp_set_num_threads(s.threads);

  try {
    s.spec = model_from_name(s.model_name, has_input ? &input : nullptr);
  } catch (const Error& e) {
    throw Error(std::string("--model: ") + e.what());
  }
  if (a.has("--init")) {
    s.init = load_parameters(a.str("--init", ""), s.spec);
  } else {
    s.init = Parameters::he_uniform(s.spec, s.opt.seed);
  }
  s.split = data::load_data_dir(a.str("--data", "data"), s.opt.seed);
  check_data_fits(s.spec, s.split.train);
  check_data_fits(s.spec, s.split.test);
  return s;
}

void print_header(const Setup& s, const std::string& path) {
  std::cout << "model   " << (s.model_name == "seed" || s.model_name == "lenet5" ? s.model_name + ": " : "")
            << s.spec.full_text() << " (" << with_commas(s.spec.param_count()) << " parameters)\n"
            << "data    " << s.split.train.source << ": " << s.split.train.size() << " training, "
            << s.split.test.size() << " test samples\n";
  if (!s.split.note.empty()) {
    std::cout << "note    " << s.split.note << "\n";
    std::cerr << "note: " << s.split.note << "\n";
  }
  std::cout << "run     path " << path << ", " << s.threads << " thread" << (s.threads == 1 ? "" : "s")
            << ", " << s.opt.epochs << " epochs, batch " << s.opt.batch << ", lr " << s.opt.lr
            << ", seed " << s.opt.seed << "\n"
            << std::flush;
}

// A one-line progress bar on stderr, redrawn at most every 0.1 s, only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(int epochs, int batch) : epochs_(epochs), batch_(batch), on_(::isatty(2)) {}
  void step(int epoch, int b, int batches, int done, double secs) {
    if (!on_ || (b != batches && secs - last_ < 0.1)) return;
    last_ = secs;
    const int width = 30;
    const int filled = width * b / batches;
    const double rate = secs > 0 ? done / secs : 0;
    const double left = rate > 0 ? (double(batches - b) * batch_) / rate : 0;
    std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %d/%d batches  %.0f img/s  %.1f s left", epoch,
                 epochs_, std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                 b, batches, rate, left);
    std::fflush(stderr);
  }
  void clear() {
    if (on_) std::fprintf(stderr, "\r\033[K");
    last_ = 0;
  }

 private:
  int epochs_, batch_;
  bool on_;
  double last_ = 0;
};

std::string metrics_csv(const std::vector<EpochMetrics>& h) {
  std::ostringstream o;
  o << "epoch,loss,train_accuracy,test_accuracy,seconds\n";
  for (const auto& m : h) {
    char b[256];
    std::snprintf(b, sizeof b, "%d,%.9g,%.9g,%.9g,%.6f\n", m.epoch, m.loss, m.train_accuracy,
                  m.test_accuracy, m.seconds);
    o << b;
  }
  return o.str();
}

std::vector<EpochMetrics> run_training(Network& net, const Setup& s, bool table) {
  Progress progress(s.opt.epochs, s.opt.batch);
  if (table) std::cout << "epoch       loss  train_acc   test_acc    seconds\n" << std::flush;
  return train(
      net, s.split.train, s.split.test, s.opt,
      [&](int e, int b, int bs, int done, double secs) { progress.step(e, b, bs, done, secs); },
      [&](const EpochMetrics& m) {
        progress.clear();
        if (!table) return;
        char line[256];
        std::snprintf(line, sizeof line, "%5d %10.6f %10.4f %10.4f %10.3f\n", m.epoch, m.loss,
                      m.train_accuracy, m.test_accuracy, m.seconds);
        std::cout << line << std::flush;
      });
}

int cmd_train(const std::vector<std::string>& argv) {
  auto valued = kTrainValued;
  valued.insert({"--path", "--metrics", "--save"});
  const Args a(argv, valued, {"--help"});
  if (a.has("--help")) {
    std::cout << with_flags(kTrainUsage);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  PathKind path;
  try {
    path = parse_path(a.str("--path", "fast"));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const std::string metrics = a.str("--metrics", ""), save = a.has("--save") ? a.str("--save", "") : "";
  if (!metrics.empty()) check_output_path("--metrics", metrics);
  if (!save.empty()) check_output_path("--save", save);
  Setup s = read_setup(a);
  print_header(s, path_name(path));
  auto net = make_network(path, s.spec, s.init);
  const auto history = run_training(*net, s, true);
  double total = 0;
  for (const auto& m : history) total += m.seconds;
  std::cout << "trained " << history.size() << " epochs in " << fixed(total, 3) << " s";
  if (!history.empty())
    std::cout << "; final test accuracy " << fixed(history.back().test_accuracy, 4);
  std::cout << "\n";
  if (!metrics.empty()) {
    write_file_atomic(metrics, metrics_csv(history));
    std::cout << "wrote " << metrics << "\n";
  }
  if (!save.empty()) {
    save_parameters(save, s.spec, net->parameters());
    std::cout << "wrote " << save << "\n";
  }
  return 0;
}

std::string json_array(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char b[64];
    std::snprintf(b, sizeof b, "%.9g", v[i]);
    s += (i ? ", " : "") + std::string(b);
  }
  return s + "]";
}

int cmd_compare(const std::vector<std::string>& argv) {
  auto valued = kTrainValued;
  valued.insert("--json");
  const Args a(argv, valued, {"--help"});
  if (a.has("--help")) {
    std::cout << with_flags(kCompareUsage);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  const std::string json = a.has("--json") ? a.str("--json", "") : "";
  if (!json.empty()) check_output_path("--json", json);
  Setup s = read_setup(a);
  print_header(s, "reference and fast");

  std::cout << "training the reference path...\n" << std::flush;
  auto ref = make_network(PathKind::Reference, s.spec, s.init);
  const auto hr = run_training(*ref, s, false);
  std::cout << "training the fast path...\n" << std::flush;
  auto fast = make_network(PathKind::Fast, s.spec, s.init);
  const auto hf = run_training(*fast, s, false);

  std::vector<double> lr_, lf, ar, af;
  double sr = 0, sf = 0, max_rel = 0;
  std::cout << "epoch   loss_reference   loss_fast   rel_diff   test_acc_ref   test_acc_fast\n";
  for (std::size_t i = 0; i < hr.size(); ++i) {
    const double rel = std::abs(hr[i].loss - hf[i].loss) / std::max(std::abs(hr[i].loss), 1e-30);
    max_rel = std::max(max_rel, rel);
    lr_.push_back(hr[i].loss);
    lf.push_back(hf[i].loss);
    ar.push_back(hr[i].test_accuracy);
    af.push_back(hf[i].test_accuracy);
    sr += hr[i].seconds;
    sf += hf[i].seconds;
    char line[256];
    std::snprintf(line, sizeof line, "%5zu %16.6f %11.6f %10.2e %14.4f %15.4f\n", i + 1, hr[i].loss,
                  hf[i].loss, rel, hr[i].test_accuracy, hf[i].test_accuracy);
    std::cout << line;
  }
  const Parameters pr = ref->parameters(), pf = fast->parameters();
  double max_param = 0;
  for (std::size_t l = 0; l < pr.layers.size(); ++l) {
    for (std::size_t i = 0; i < pr.layers[l].weights.size(); ++i)
      max_param = std::max(max_param, double(std::abs(pr.layers[l].weights[i] - pf.layers[l].weights[i])));
    for (std::size_t i = 0; i < pr.layers[l].bias.size(); ++i)
      max_param = std::max(max_param, double(std::abs(pr.layers[l].bias[i] - pf.layers[l].bias[i])));
  }
  const double speedup = sf > 0 ? sr / sf : 0;
  const double acc_gap = hr.empty() ? 0 : std::abs(ar.back() - af.back());
  std::cout << "max relative per-epoch loss difference: " << std::scientific << max_rel << "\n"
            << "max absolute parameter difference:      " << max_param << std::defaultfloat << "\n"
            << "seconds: reference " << fixed(sr, 3) << ", fast " << fixed(sf, 3) << ", speedup "
            << fixed(speedup, 1) << "x\n";
  if (!json.empty()) {
    char b[1024];
    std::snprintf(b, sizeof b,
                  "  \"max_loss_rel_diff\": %.9g,\n  \"max_param_abs_diff\": %.9g,\n"
                  "  \"seconds_reference\": %.6f,\n  \"seconds_fast\": %.6f,\n  \"speedup\": %.6g\n",
                  max_rel, max_param, sr, sf, speedup);
    const std::string out = "{\n  \"epochs\": " + std::to_string(hr.size()) +
                            ",\n  \"loss_reference\": " + json_array(lr_) +
                            ",\n  \"loss_fast\": " + json_array(lf) +
                            ",\n  \"test_accuracy_reference\": " + json_array(ar) +
                            ",\n  \"test_accuracy_fast\": " + json_array(af) + ",\n" + b + "}\n";
    write_file_atomic(json, out);
    std::cout << "wrote " << json << "\n";
  }
  std::vector<std::string> broken;
  if (max_rel > 1e-3) broken.push_back("per-epoch loss differs by " + fixed(max_rel, 6) + " relative (limit 0.001)");
  if (acc_gap > 0.002 + 1e-12)
    broken.push_back("final test accuracy differs by " + fixed(acc_gap * 100, 2) +
                     " percentage points (limit 0.2)");
  if (!broken.empty()) {
    for (const auto& b : broken) std::cerr << "scratchcnn compare: parity broken: " << b << "\n";
    return 1;
  }
  std::cout << "parity: OK (loss within 1e-3 relative every epoch, final test accuracy within 0.2 "
               "percentage points)\n";
  return 0;
}

int cmd_info(const std::vector<std::string>& argv) {
  const Args a(argv, {"--model", "--input"}, {"--help"});
  if (a.has("--help")) {
    std::cout << kInfoUsage;
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  Shape input{};
  if (a.has("--input")) {
    try {
      input = parse_shape(a.str("--input", ""), "--input");
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  ModelSpec spec;
  try {
    spec = model_from_name(a.str("--model", "seed"), a.has("--input") ? &input : nullptr);
  } catch (const Error& e) {
    throw Error(std::string("--model: ") + e.what());
  }
  std::printf("model: %s\n", spec.full_text().c_str());
  std::printf("%3s  %-24s %-10s %12s %14s\n", "#", "layer", "output", "parameters", "FLOPs/sample");
  std::printf("%3s  %-24s %-10s %12s %14s\n", "", "input", spec.input.str().c_str(), "", "");
  for (std::size_t i = 0; i < spec.layers.size(); ++i)
    std::printf("%3zu  %-24s %-10s %12s %14s\n", i + 1, spec.layers[i].text().c_str(),
                spec.info[i].out.str().c_str(), with_commas(spec.info[i].params).c_str(),
                with_commas(spec.info[i].flops).c_str());
  std::printf("%3s  %-24s %-10s %12s %14s\n", "", "total", "", with_commas(spec.param_count()).c_str(),
              with_commas(spec.forward_flops()).c_str());
  std::printf("training FLOPs per sample (forward + both backward passes): %s\n",
              with_commas(spec.train_flops()).c_str());
  std::printf("fast kernels: %s, OpenMP threads: %d\n", fast::gemm_isa(), omp_get_max_threads());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> all(argv + 1, argv + argc);
  if (all.empty() || all[0] == "--help" || all[0] == "-h" || all[0] == "help") {
    std::cout << kMainUsage;
    return all.empty() ? 2 : 0;
  }
  const std::string cmd = all[0];
  const std::vector<std::string> rest(all.begin() + 1, all.end());
  try {
    if (cmd == "train") return cmd_train(rest);
    if (cmd == "compare") return cmd_compare(rest);
    if (cmd == "info") return cmd_info(rest);
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::cerr << "scratchcnn " << cmd << ": " << e.what() << "\n\n";
    if (cmd == "train") std::cerr << with_flags(kTrainUsage);
    else if (cmd == "compare") std::cerr << with_flags(kCompareUsage);
    else if (cmd == "info") std::cerr << kInfoUsage;
    else std::cerr << kMainUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "scratchcnn " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
