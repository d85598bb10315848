// The scratchcnn command-line tool: train, compare, eval, predict, info.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "args.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"
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
path (SIMD convolution and GEMM kernels, OpenMP across the minibatch), and compares the two.

commands:
  train     train a model and print per-epoch loss and accuracy; checkpoint and resume
  compare   train the reference and the fast path from the same weights on the same batches
  eval      accuracy, per-class precision and recall, and the confusion matrix of a checkpoint
  predict   predicted labels (and probabilities) of a checkpoint for an image file
  info      print a model's layers, output shapes, parameter counts and FLOPs

Run 'scratchcnn <command> --help' for the flags of a command.
environment:
  SCRATCHCNN_ISA   instruction-set level of the fast kernels: avx512f, avx2, sse4.2 or auto
                   (default: auto, the best this CPU runs; 'scratchcnn info' prints the choice)
  OMP_NUM_THREADS  threads of the fast path, unless --threads is given
exit codes: 0 success, 1 failure (bad data, bad file, diverged training, broken parity,
            a checkpoint that does not fit), 2 bad command line
)TXT";

const char* kTrainFlags = R"TXT(model:
  --model M        seed (default), lenet5, or model text such as
                   "conv(1,2,k=3,pad=1) relu maxpool(2) flatten dense(32,10)"
  --input CxHxW    input shape (default: 1x8x8 for seed and model text, 1x28x28 for lenet5)
  --init FILE      start from the parameters of a file written by --save (a checkpoint or a
                   parameter file; its optimizer state is not used). Default: He-uniform from --seed
data:
  --data DIR       a folder with optdigits.tra + optdigits.tes; or the four MNIST-style IDX files
                   train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
                   t10k-labels-idx1-ubyte (each may be .gz; Fashion-MNIST, 28x28); or digits.csv[.gz]
                   (1,797 rows, then split 80/20, stratified and seeded). Default: data for seed and
                   model text (see scripts/fetch-data.sh), /usr/share/datasets/fashion-mnist for
                   lenet5 (scripts/fetch-data.sh fashion-mnist)
training (defaults per model: seed and model text | lenet5):
  --epochs N       epochs, counted from the run's start (default 10 | 5)
  --batch N        minibatch size (default 128 | 32; the last partial batch is used)
  --lr X           SGD learning rate (default 0.1 | 0.05)
  --momentum X     SGD momentum, 0 = plain SGD (default 0)
  --weight-decay X L2 weight decay, added to the gradient as X * w (default 0)
                   The update per parameter: g = mean gradient + X * w; v = momentum * v + g;
                   w = w - lr * v (w = w - lr * g when momentum is 0)
  --seed N         seed for initial weights, shuffling and the data split (default 1)
  --max-loss X     divergence guard: stop with an error (naming the epoch and batch) when a
                   batch's mean loss exceeds X; default 10 * ln(classes) (23.0 for 10 classes), 0
                   = stop only on a NaN or infinite loss. Checkpoints already written stay as they are
  --threads N      OpenMP threads for the fast path (default: all cores, or OMP_NUM_THREADS)
)TXT";

const char* kTrainUsage = R"TXT(usage: scratchcnn train [flags]

Trains with minibatch SGD (optionally with momentum and weight decay) and softmax cross-entropy,
printing one line per epoch: mean training loss, training accuracy (each sample judged by its own
training step's forward pass), test accuracy after the epoch, and the seconds the epoch's training
steps took. A progress bar with images/s and the time left is drawn on stderr when stderr is a
terminal.

%s  --path P         fast (default) or reference
checkpoints:
  --save FILE      write a checkpoint after every epoch (atomically: a crash leaves the last
                   complete one): model, parameters, velocities, epoch, the options above and the
                   metrics so far; versioned, with a checksum. eval, predict and --init read it.
  --resume FILE    continue the run of a checkpoint with epoch (its epoch + 1) up to --epochs
                   (default: the epochs it was started with). Model, batch, lr, momentum,
                   weight decay and seed come from the checkpoint; giving a different one is an
                   error. The result is bit for bit that of an uninterrupted run.
                   --resume F --save F continues in place.
output:
  --metrics FILE   write the per-epoch table as CSV: epoch,loss,train_accuracy,test_accuracy,seconds
                   when training succeeds; a resumed run writes every epoch since the run's start,
                   with seconds 'nan' for the epochs of the checkpoint (not training state)
A failed run never writes --metrics; --save holds the last complete epoch.
See docs/checkpoints.md.
)TXT";

const char* kEvalUsage = R"TXT(usage: scratchcnn eval --checkpoint FILE [flags]

Evaluates the parameters of a checkpoint or parameter file (the model is read from the file) on
the test part of a data folder: accuracy, per-class precision and recall, and the confusion
matrix (rows: true class, columns: predicted class).

  --checkpoint FILE  a checkpoint or parameter file written by train --save (required)
  --data DIR         data folder, as for train (default: data, or /usr/share/datasets/fashion-mnist
                     for lenet5)
  --split S          test (default) or train
  --seed N           seed of the 80/20 split of a digits.csv folder (default: the checkpoint's
                     seed, else 1)
  --batch N          evaluation batch size (default 256)
  --path P           fast (default) or reference
  --threads N        OpenMP threads for the fast path (default: all cores, or OMP_NUM_THREADS)
  --json FILE        write accuracy, precision, recall, support and the matrix as JSON
  --csv FILE         write the confusion matrix as CSV: header true,0,1,...; one row per true class
Plot the matrix with scripts/plot_confusion.py.
)TXT";

const char* kPredictUsage = R"TXT(usage: scratchcnn predict --checkpoint FILE [flags] INPUT

Prints one line per sample of INPUT: the predicted class, then with --probs the softmax
probability of every class. INPUT is an IDX images file (plain or gzip; MNIST format) or an
optdigits file (rows of 64 pixels and a label, plain or gzip). When labels are known (an
optdigits file, or --labels), the accuracy goes to stderr.

  --checkpoint FILE  a checkpoint or parameter file written by train --save (required)
  --labels FILE      IDX labels file for an IDX INPUT (optional)
  --probs            append the class probabilities (%.6f, space-separated) to each line
  --batch N          batch size (default 256)
  --path P           fast (default) or reference
  --threads N        OpenMP threads for the fast path (default: all cores, or OMP_NUM_THREADS)
)TXT";

const char* kCompareUsage = R"TXT(usage: scratchcnn compare [flags]

Builds the reference and the fast path from the same parameters and trains both through the same
batches (free-running). Then runs every epoch of the fast path again, started from the reference's
parameters and velocity at that epoch's start (epoch-synced), so that a difference cannot carry
over: where a max-pool window holds two values closer than float rounding, the paths may pick
different maxima and free-running runs drift apart without any layer being wrong (docs/parity.md).
Prints per-epoch loss and test accuracy of each run, the largest differences, the seconds of the
reference and free-running fast runs and the speedup. Exits with 1 when a parity rule is broken:
an epoch-synced loss differing by more than 1e-3 relative from the reference's, or an
epoch-synced test accuracy more than 0.2 percentage points from it.

%soutput:
  --json FILE      write the results as a JSON object (epochs, loss_reference, loss_fast,
                   test_accuracy_reference, test_accuracy_fast, loss_fast_synced,
                   test_accuracy_fast_synced, max_loss_rel_diff, max_test_accuracy_diff (both
                   epoch-synced), max_loss_rel_diff_free_running,
                   final_test_accuracy_diff_free_running, max_param_abs_diff_free_running,
                   seconds_reference, seconds_fast, speedup, isa)
)TXT";

const char* kInfoUsage = R"TXT(usage: scratchcnn info [--model M] [--input CxHxW]

Prints every layer of the model with its output shape, parameter count and forward FLOPs per
sample (2 per multiply-add in conv and dense, 1 per element for relu, sigmoid and max-pool), the
totals, the instruction-set level the fast kernels run on (SCRATCHCNN_ISA, else the best this CPU
supports; also the levels compiled in and those this CPU runs), and the OpenMP thread count.
)TXT";

std::string with_flags(const char* usage) {
  std::vector<char> buf(16384);
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

// Training defaults of a model (--help lists them). The seed model keeps the origin experiment's;
// lenet5's (plain SGD, smaller batches, 5 epochs) reach 0.88-0.89 test accuracy on Fashion-MNIST
// for seeds 1-3 (docs/fashion-mnist.md).
struct Defaults {
  int epochs = 10;
  int batch = 128;
  double lr = 0.1;
  double momentum = 0;
  const char* data = "data";
};

Defaults defaults_for(const std::string& model_name) {
  if (model_name == "lenet5") return Defaults{5, 32, 0.05, 0, "/usr/share/datasets/fashion-mnist"};
  return Defaults{};
}

// "seed" or "lenet5" when the spec is that built-in, else empty.
std::string builtin_name(const ModelSpec& spec) {
  for (const char* name : {"seed", "lenet5"})
    if (model_from_name(name).full_text() == spec.full_text()) return name;
  return {};
}

struct Setup {
  ModelSpec spec;
  std::string model_name;
  data::Split split;
  TrainOptions opt;
  Parameters init;
  int threads = 1;
  // A resumed run: the checkpoint's file and state (epoch 0 and empty otherwise).
  std::string resumed_from;
  TrainingState resumed;
};

const std::set<std::string> kTrainValued = {"--model",    "--input",        "--init", "--data",
                                            "--epochs",   "--batch",        "--lr",   "--seed",
                                            "--threads",  "--momentum",     "--weight-decay",
                                            "--max-loss"};

std::string fmt_g(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

// The shortest text that reads back as the same float: "0.1", not "0.100000001".
std::string shortest(float v) {
  char b[64];
  const auto r = std::to_chars(b, b + sizeof b, v);
  return std::string(b, r.ptr);
}

int read_threads(const Args& a) {
  const int threads = static_cast<int>(a.integer("--threads", omp_get_max_threads(), 1, 1024));
  omp_set_num_threads(threads);
  return threads;
}

Shape read_input(const Args& a) {
  try {
    return parse_shape(a.str("--input", ""), "--input");
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

ModelSpec read_model(const Args& a, const std::string& name) {
  const bool has_input = a.has("--input");
  const Shape input = has_input ? read_input(a) : Shape{};
  try {
    return model_from_name(name, has_input ? &input : nullptr);
  } catch (const Error& e) {
    throw Error(std::string("--model: ") + e.what());
  }
}

// `resume`: the checkpoint of --resume, already read (train only).
Setup read_setup(const Args& a, const Checkpoint* resume = nullptr,
                 const std::string& resume_path = {}) {
  Setup s;
  if (a.has("--input")) (void)read_input(a);  // a malformed shape is a usage error, checked first
  const int epochs = static_cast<int>(a.integer("--epochs", 0, 0, 1000000));
  const int batch = static_cast<int>(a.integer("--batch", 128, 1, 1 << 20));
  const float lr = static_cast<float>(a.real("--lr", 0.1, 0.0, 3.0e38));
  const float momentum = static_cast<float>(a.real("--momentum", 0, 0.0, 1.0));
  const float decay = static_cast<float>(a.real("--weight-decay", 0, 0.0, 1.0));
  const std::uint64_t seed = a.seed("--seed", 1);
  const double max_loss = a.real("--max-loss", 0, 0.0, 1e30);
  s.threads = read_threads(a);

  if (resume) {
    s.spec = resume->spec;
    s.model_name = builtin_name(s.spec);
    if (a.has("--model") || a.has("--input")) {
      const ModelSpec asked = read_model(a, a.str("--model", "seed"));
      if (asked.full_text() != s.spec.full_text())
        throw Error(resume_path + ": made for model '" + s.spec.full_text() + "', not for '" +
                    asked.full_text() + "' (--model/--input)");
    }
    s.opt = resume->state.options;
    // A resumed run keeps its options: changing one would not continue the same run.
    auto same = [&](const char* flag, const std::string& given, const std::string& saved,
                    bool equal) {
      if (a.has(flag) && !equal)
        throw Error(std::string(flag) + " " + given + " differs from the " + saved + " that " +
                    resume_path + " was trained with (a resumed run keeps its options; drop " +
                    flag + ")");
    };
    same("--batch", std::to_string(batch), std::to_string(s.opt.batch), batch == s.opt.batch);
    same("--lr", shortest(lr), shortest(s.opt.lr), lr == s.opt.lr);
    same("--momentum", shortest(momentum), shortest(s.opt.momentum), momentum == s.opt.momentum);
    same("--weight-decay", shortest(decay), shortest(s.opt.weight_decay),
         decay == s.opt.weight_decay);
    same("--seed", std::to_string(seed), std::to_string(s.opt.seed), seed == s.opt.seed);
    if (a.has("--epochs")) s.opt.epochs = epochs;
    if (s.opt.epochs < resume->state.epoch)
      throw Error("--epochs " + std::to_string(s.opt.epochs) + ": " + resume_path +
                  " already holds " + std::to_string(resume->state.epoch) +
                  " epochs (--epochs counts from the run's start)");
    s.opt.first_epoch = resume->state.epoch + 1;
    s.init = resume->params;
    s.resumed_from = resume_path;
    s.resumed = resume->state;
  } else {
    s.model_name = a.str("--model", "seed");
    s.spec = read_model(a, s.model_name);
    const Defaults d = defaults_for(s.model_name);
    s.opt.epochs = a.has("--epochs") ? epochs : d.epochs;
    s.opt.batch = a.has("--batch") ? batch : d.batch;
    s.opt.lr = a.has("--lr") ? lr : static_cast<float>(d.lr);
    s.opt.momentum = a.has("--momentum") ? momentum : static_cast<float>(d.momentum);
    s.opt.weight_decay = decay;
    s.opt.seed = seed;
    s.init = a.has("--init") ? load_parameters(a.str("--init", ""), s.spec)
                             : Parameters::he_uniform(s.spec, s.opt.seed);
    s.resumed.options = s.opt;
    s.resumed.velocity = Parameters::zeros(s.spec);
  }
  s.opt.max_loss = a.has("--max-loss") ? max_loss : 10.0 * std::log(double(s.spec.classes()));
  s.split = data::load_data_dir(a.str("--data", defaults_for(s.model_name).data), s.opt.seed);
  check_data_fits(s.spec, s.split.train);
  check_data_fits(s.spec, s.split.test);
  const DataFingerprint f = fingerprint(s.split);
  if (resume && !(f == resume->state.data))
    throw Error(resume_path + " was trained on data with " +
                std::to_string(resume->state.data.train) + " training and " +
                std::to_string(resume->state.data.test) +
                " test samples (labels hash " + std::to_string(resume->state.data.labels) + "); " +
                s.split.train.source + " has " + std::to_string(f.train) + " and " +
                std::to_string(f.test) + " (labels hash " + std::to_string(f.labels) + ")");
  s.resumed.data = f;
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
            << ", " << s.opt.epochs << " epochs, batch " << s.opt.batch << ", lr " << s.opt.lr;
  if (s.opt.momentum != 0) std::cout << ", momentum " << s.opt.momentum;
  if (s.opt.weight_decay != 0) std::cout << ", weight decay " << s.opt.weight_decay;
  std::cout << ", seed " << s.opt.seed << "\n";
  if (!s.resumed_from.empty()) {
    std::cout << "resume  " << s.resumed_from << ": " << s.resumed.epoch << " epoch"
              << (s.resumed.epoch == 1 ? "" : "s") << " done";
    if (!s.resumed.history.empty())
      std::cout << " (last: loss " << fixed(s.resumed.history.back().loss, 6) << ", test accuracy "
                << fixed(s.resumed.history.back().test_accuracy, 4) << ")";
    std::cout << "\n";
  }
  std::cout << std::flush;
}

std::string duration(double secs) {
  char b[64];
  if (secs < 60) std::snprintf(b, sizeof b, "%.0f s", secs);
  else std::snprintf(b, sizeof b, "%d:%02d min", int(secs) / 60, int(secs) % 60);
  return b;
}

// A one-line progress bar on stderr, redrawn at most every 0.1 s, only when stderr is a terminal:
// images/s of the epoch so far, and the time left of the epoch and of the run (training steps
// only; each epoch's evaluation comes on top).
class Progress {
 public:
  Progress(int epochs, int samples) : epochs_(epochs), samples_(samples), on_(::isatty(2)) {}
  void step(int epoch, int b, int batches, int done, double secs) {
    if (!on_ || (b != batches && secs - last_ < 0.1)) return;
    last_ = secs;
    const int width = 30;
    const int filled = width * b / batches;
    const double rate = secs > 0 ? done / secs : 0;
    const double left = rate > 0 ? std::max(0.0, double(samples_ - done)) / rate : 0;
    const double run_left = left + (rate > 0 ? double(epochs_ - epoch) * samples_ / rate : 0);
    std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %d/%d batches  %.0f img/s  %s left (run %s)",
                 epoch, epochs_, std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), b, batches, rate,
                 duration(left).c_str(), duration(run_left).c_str());
    std::fflush(stderr);
  }
  void clear() {
    if (on_) std::fprintf(stderr, "\r\033[K");
    last_ = 0;
  }

 private:
  int epochs_, samples_;
  bool on_;
  double last_ = 0;
};

std::string metrics_csv(const std::vector<EpochMetrics>& h) {
  std::ostringstream o;
  o << "epoch,loss,train_accuracy,test_accuracy,seconds\n";
  for (const auto& m : h) {
    char b[256];
    // Epochs carried over from a checkpoint have no seconds (NaN): written as "nan".
    if (std::isnan(m.seconds))
      std::snprintf(b, sizeof b, "%d,%.9g,%.9g,%.9g,nan\n", m.epoch, m.loss, m.train_accuracy,
                    m.test_accuracy);
    else
      std::snprintf(b, sizeof b, "%d,%.9g,%.9g,%.9g,%.6f\n", m.epoch, m.loss, m.train_accuracy,
                    m.test_accuracy, m.seconds);
    o << b;
  }
  return o.str();
}

std::vector<EpochMetrics> run_training(Network& net, const Setup& s, bool table,
                                       const EpochCallback& after_epoch = {}) {
  Progress progress(s.opt.epochs, s.split.train.size());
  if (table) std::cout << "epoch       loss  train_acc   test_acc    seconds\n" << std::flush;
  return train(
      net, s.split.train, s.split.test, s.opt,
      [&](int e, int b, int bs, int done, double secs) { progress.step(e, b, bs, done, secs); },
      [&](const EpochMetrics& m) {
        progress.clear();
        if (table) {
          char line[256];
          std::snprintf(line, sizeof line, "%5d %10.6f %10.4f %10.4f %10.3f\n", m.epoch, m.loss,
                        m.train_accuracy, m.test_accuracy, m.seconds);
          std::cout << line << std::flush;
        }
        if (after_epoch) after_epoch(m);
      });
}

int cmd_train(const std::vector<std::string>& argv) {
  auto valued = kTrainValued;
  valued.insert({"--path", "--metrics", "--save", "--resume"});
  const Args a(argv, valued, {"--help"});
  if (a.has("--help")) {
    std::cout << with_flags(kTrainUsage);
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (a.has("--resume") && a.has("--init"))
    throw UsageError("--init and --resume exclude each other (--resume continues a run, --init "
                     "starts a new one)");
  PathKind path;
  try {
    path = parse_path(a.str("--path", "fast"));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const std::string metrics = a.str("--metrics", ""), save = a.has("--save") ? a.str("--save", "") : "";
  if (!metrics.empty()) check_output_path("--metrics", metrics);
  if (!save.empty()) check_output_path("--save", save);
  Checkpoint ckpt;
  const std::string resume = a.has("--resume") ? a.str("--resume", "") : "";
  if (!resume.empty()) ckpt = load_checkpoint(resume);
  Setup s = read_setup(a, resume.empty() ? nullptr : &ckpt, resume);
  print_header(s, path_name(path));
  auto net = make_network(path, s.spec, s.init);
  TrainingState state = s.resumed;
  net->set_velocity(state.velocity);
  state.options = s.opt;
  const auto written = run_training(*net, s, true, [&](const EpochMetrics& m) {
    state.epoch = m.epoch;
    state.history.push_back(m);
    if (save.empty()) return;
    state.velocity = net->velocity();
    save_checkpoint(save, s.spec, net->parameters(), state);
  });
  double total = 0;
  for (const auto& m : written) total += m.seconds;
  std::cout << "trained " << written.size() << " epoch" << (written.size() == 1 ? "" : "s");
  if (!written.empty() && written.front().epoch != 1)
    std::cout << " (" << written.front().epoch << ".." << written.back().epoch << ")";
  std::cout << " in " << fixed(total, 3) << " s";
  if (!state.history.empty())
    std::cout << "; final test accuracy " << fixed(state.history.back().test_accuracy, 4);
  std::cout << "\n";
  if (!metrics.empty()) {
    write_file_atomic(metrics, metrics_csv(state.history));
    std::cout << "wrote " << metrics << "\n";
  }
  if (!save.empty()) {
    // A run that trained no epoch still leaves its (initial or resumed) state.
    if (written.empty()) {
      state.velocity = net->velocity();
      save_checkpoint(save, s.spec, net->parameters(), state);
    }
    std::cout << "wrote " << save << " (checkpoint after epoch " << state.epoch << ")\n";
  }
  return 0;
}
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += ch;
    }
  }
  return out + "\"";
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
  // The reference's state at the start of every epoch, for the epoch-synced fast runs.
  std::vector<Parameters> ref_params{ref->parameters()}, ref_velocity{ref->velocity()};
  const auto hr = run_training(*ref, s, false, [&](const EpochMetrics&) {
    ref_params.push_back(ref->parameters());
    ref_velocity.push_back(ref->velocity());
  });
  std::cout << "training the fast path...\n" << std::flush;
  auto fast = make_network(PathKind::Fast, s.spec, s.init);
  const auto hf = run_training(*fast, s, false);
  // Epoch-synced: each epoch of the fast path again, started from the reference's parameters and
  // velocity at that epoch's start, so that a difference cannot carry over from earlier epochs.
  std::vector<EpochMetrics> hs;
  for (std::size_t i = 0; i < hr.size(); ++i) {
    auto net = make_network(PathKind::Fast, s.spec, ref_params[i]);
    net->set_velocity(ref_velocity[i]);
    Setup one = s;
    one.opt.first_epoch = hr[i].epoch;
    one.opt.epochs = hr[i].epoch;
    const auto m = train(*net, one.split.train, one.split.test, one.opt);
    hs.push_back(m.at(0));
  }

  std::vector<double> lr_, lf, ls, ar, af, as;
  double sr = 0, sf = 0, max_rel = 0, max_rel_free = 0, max_acc_gap = 0;
  {
    char head[512];
    std::snprintf(head, sizeof head, "%5s %16s %11s %9s %17s %9s %14s %14s %16s\n", "epoch",
                  "loss_reference", "loss_fast", "rel_diff", "loss_fast_synced", "rel_diff",
                  "test_acc_ref", "test_acc_fast", "test_acc_synced");
    std::cout << "(fast: free-running; synced: each epoch from the reference's state)\n" << head;
  }
  for (std::size_t i = 0; i < hr.size(); ++i) {
    const double denom = std::max(std::abs(hr[i].loss), 1e-30);
    const double rel_free = std::abs(hr[i].loss - hf[i].loss) / denom;
    const double rel = std::abs(hr[i].loss - hs[i].loss) / denom;
    max_rel = std::max(max_rel, rel);
    max_rel_free = std::max(max_rel_free, rel_free);
    max_acc_gap = std::max(max_acc_gap, std::abs(hr[i].test_accuracy - hs[i].test_accuracy));
    lr_.push_back(hr[i].loss);
    lf.push_back(hf[i].loss);
    ls.push_back(hs[i].loss);
    ar.push_back(hr[i].test_accuracy);
    af.push_back(hf[i].test_accuracy);
    as.push_back(hs[i].test_accuracy);
    sr += hr[i].seconds;
    sf += hf[i].seconds;
    char line[256];
    std::snprintf(line, sizeof line, "%5d %16.6f %11.6f %9.2e %17.6f %9.2e %14.4f %14.4f %16.4f\n",
                  hr[i].epoch, hr[i].loss, hf[i].loss, rel_free, hs[i].loss, rel,
                  hr[i].test_accuracy, hf[i].test_accuracy, hs[i].test_accuracy);
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
  const double acc_gap_free = hr.empty() ? 0 : std::abs(ar.back() - af.back());
  std::cout << "epoch-synced: max relative loss difference " << std::scientific << max_rel
            << std::defaultfloat << ", max test accuracy difference " << fixed(max_acc_gap * 100, 2)
            << " percentage points\n"
            << "free-running: max relative loss difference " << std::scientific << max_rel_free
            << ", final test accuracy difference " << std::defaultfloat << fixed(acc_gap_free * 100, 2)
            << " percentage points, max absolute parameter difference at the end " << std::scientific
            << max_param << std::defaultfloat << "\n"
            << "seconds: reference " << fixed(sr, 3) << ", fast " << fixed(sf, 3) << ", speedup "
            << fixed(speedup, 1) << "x\n";
  if (!json.empty()) {
    char b[1024];
    std::snprintf(b, sizeof b,
                  "  \"max_loss_rel_diff\": %.9g,\n  \"max_test_accuracy_diff\": %.9g,\n"
                  "  \"max_loss_rel_diff_free_running\": %.9g,\n"
                  "  \"final_test_accuracy_diff_free_running\": %.9g,\n"
                  "  \"max_param_abs_diff_free_running\": %.9g,\n"
                  "  \"seconds_reference\": %.6f,\n  \"seconds_fast\": %.6f,\n  \"speedup\": %.6g,\n"
                  "  \"isa\": %s\n",
                  max_rel, max_acc_gap, max_rel_free, acc_gap_free, max_param, sr, sf, speedup,
                  json_string(fast::active_isa()).c_str());
    const std::string out = "{\n  \"epochs\": " + std::to_string(hr.size()) +
                            ",\n  \"loss_reference\": " + json_array(lr_) +
                            ",\n  \"loss_fast\": " + json_array(lf) +
                            ",\n  \"test_accuracy_reference\": " + json_array(ar) +
                            ",\n  \"test_accuracy_fast\": " + json_array(af) +
                            ",\n  \"loss_fast_synced\": " + json_array(ls) +
                            ",\n  \"test_accuracy_fast_synced\": " + json_array(as) + ",\n" + b + "}\n";
    write_file_atomic(json, out);
    std::cout << "wrote " << json << "\n";
  }
  std::vector<std::string> broken;
  if (max_rel > 1e-3)
    broken.push_back("an epoch-synced loss differs by " + fixed(max_rel, 6) + " relative (limit 0.001)");
  if (max_acc_gap > 0.002 + 1e-12)
    broken.push_back("an epoch-synced test accuracy differs by " + fixed(max_acc_gap * 100, 2) +
                     " percentage points (limit 0.2)");
  if (!broken.empty()) {
    for (const auto& b : broken) std::cerr << "scratchcnn compare: parity broken: " << b << "\n";
    return 1;
  }
  std::cout << "parity: OK (epoch-synced: loss within 1e-3 relative and test accuracy within 0.2 "
               "percentage points every epoch)\n";
  return 0;
}

// The model and parameters of a checkpoint or parameter file; `seed`: a checkpoint's seed.
struct Loaded {
  ModelSpec spec;
  Parameters params;
  bool has_seed = false;
  std::uint64_t seed = 1;
};

Loaded load_model_file(const std::string& path) {
  const std::string bytes = read_file(path);
  Loaded l;
  if (is_checkpoint(bytes)) {
    Checkpoint c = deserialize_checkpoint(bytes, path);
    l.spec = std::move(c.spec);
    l.params = std::move(c.params);
    l.has_seed = true;
    l.seed = c.state.options.seed;
  } else {
    l.spec = parameter_file_model(bytes, path);
    l.params = deserialize_parameters(bytes, l.spec, path);
  }
  return l;
}

PathKind read_path(const Args& a) {
  try {
    return parse_path(a.str("--path", "fast"));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

int cmd_eval(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--checkpoint", "--data", "--split", "--seed", "--batch", "--path", "--threads",
                "--json", "--csv"},
               {"--help"});
  if (a.has("--help")) {
    std::cout << kEvalUsage;
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("--checkpoint")) throw UsageError("--checkpoint FILE is required");
  const std::string split_name = a.str("--split", "test");
  if (split_name != "test" && split_name != "train")
    throw UsageError("--split: '" + split_name + "' is not test or train");
  const PathKind path = read_path(a);
  const int batch = static_cast<int>(a.integer("--batch", 256, 1, 1 << 20));
  read_threads(a);
  const std::string json = a.has("--json") ? a.str("--json", "") : "";
  const std::string csv = a.has("--csv") ? a.str("--csv", "") : "";
  if (!json.empty()) check_output_path("--json", json);
  if (!csv.empty()) check_output_path("--csv", csv);

  const std::string file = a.str("--checkpoint", "");
  const Loaded l = load_model_file(file);
  const std::uint64_t seed = a.seed("--seed", l.has_seed ? l.seed : 1);
  const std::string name = builtin_name(l.spec);
  const data::Split split = data::load_data_dir(a.str("--data", defaults_for(name).data), seed);
  const data::Dataset& d = split_name == "test" ? split.test : split.train;
  check_data_fits(l.spec, d);
  auto net = make_network(path, l.spec, l.params);
  const std::vector<int> pred = predict_classes(*net, d.images.data(), d.size(), batch);

  const int k = l.spec.classes();
  std::vector<std::vector<long>> cm(std::size_t(k), std::vector<long>(std::size_t(k), 0));
  long correct = 0;
  for (int i = 0; i < d.size(); ++i) {
    ++cm[std::size_t(d.labels[std::size_t(i)])][std::size_t(pred[std::size_t(i)])];
    correct += d.labels[std::size_t(i)] == pred[std::size_t(i)];
  }
  const double accuracy = double(correct) / d.size();
  // Precision of a class nobody predicted, or recall of a class absent from the data: undefined
  // (NaN; "-" in the table, null in JSON).
  const auto ks = static_cast<std::size_t>(k);
  std::vector<double> precision(ks), recall(ks);
  std::vector<long> support(ks), predicted(ks);
  for (int t = 0; t < k; ++t)
    for (int p = 0; p < k; ++p) {
      support[std::size_t(t)] += cm[std::size_t(t)][std::size_t(p)];
      predicted[std::size_t(p)] += cm[std::size_t(t)][std::size_t(p)];
    }
  for (int c = 0; c < k; ++c) {
    const double tp = double(cm[std::size_t(c)][std::size_t(c)]);
    precision[std::size_t(c)] = predicted[std::size_t(c)] ? tp / predicted[std::size_t(c)] : NAN;
    recall[std::size_t(c)] = support[std::size_t(c)] ? tp / support[std::size_t(c)] : NAN;
  }

  auto ratio = [](double v) { return std::isnan(v) ? std::string("     -") : fixed(v, 4); };
  std::cout << "model     " << (name.empty() ? "" : name + ": ") << l.spec.full_text() << "\n"
            << "data      " << d.source << " (" << split_name << "): " << d.size() << " samples\n";
  if (!split.note.empty()) std::cout << "note      " << split.note << "\n";
  std::cout << "accuracy  " << fixed(accuracy, 4) << " (" << correct << " of " << d.size() << ")\n\n"
            << "class  precision  recall  support\n";
  for (int c = 0; c < k; ++c) {
    char line[128];
    std::snprintf(line, sizeof line, "%5d  %9s  %6s  %7ld\n", c,
                  ratio(precision[std::size_t(c)]).c_str(), ratio(recall[std::size_t(c)]).c_str(),
                  support[std::size_t(c)]);
    std::cout << line;
  }
  std::cout << "\nconfusion matrix (rows: true class, columns: predicted class)\n" << "true\\pred";
  int width = 5;
  for (const auto& row : cm)
    for (long v : row) width = std::max(width, int(std::to_string(v).size()) + 1);
  for (int p = 0; p < k; ++p)
    std::cout << std::string(std::size_t(width) - std::to_string(p).size(), ' ') << p;
  std::cout << "\n";
  for (int t = 0; t < k; ++t) {
    const std::string label = std::to_string(t);
    std::cout << std::string(9 - label.size(), ' ') << label;
    for (long v : cm[std::size_t(t)])
      std::cout << std::string(std::size_t(width) - std::to_string(v).size(), ' ') << v;
    std::cout << "\n";
  }

  if (!json.empty()) {
    auto num = [](double v) { return std::isnan(v) ? std::string("null") : fmt_g(v); };
    std::ostringstream o;
    o << "{\n  \"model\": " << json_string(l.spec.full_text()) << ",\n  \"split\": "
      << json_string(split_name) << ",\n  \"samples\": " << d.size() << ",\n  \"classes\": " << k
      << ",\n  \"accuracy\": " << fmt_g(accuracy) << ",\n  \"precision\": [";
    for (int c = 0; c < k; ++c) o << (c ? ", " : "") << num(precision[std::size_t(c)]);
    o << "],\n  \"recall\": [";
    for (int c = 0; c < k; ++c) o << (c ? ", " : "") << num(recall[std::size_t(c)]);
    o << "],\n  \"support\": [";
    for (int c = 0; c < k; ++c) o << (c ? ", " : "") << support[std::size_t(c)];
    o << "],\n  \"confusion\": [";
    for (int t = 0; t < k; ++t) {
      o << (t ? ",\n    [" : "\n    [");
      for (int p = 0; p < k; ++p) o << (p ? ", " : "") << cm[std::size_t(t)][std::size_t(p)];
      o << "]";
    }
    o << "\n  ]\n}\n";
    write_file_atomic(json, o.str());
    std::cout << "wrote " << json << "\n";
  }
  if (!csv.empty()) {
    std::ostringstream o;
    o << "true";
    for (int p = 0; p < k; ++p) o << "," << p;
    o << "\n";
    for (int t = 0; t < k; ++t) {
      o << t;
      for (long v : cm[std::size_t(t)]) o << "," << v;
      o << "\n";
    }
    write_file_atomic(csv, o.str());
    std::cout << "wrote " << csv << "\n";
  }
  return 0;
}

int cmd_predict(const std::vector<std::string>& argv) {
  const Args a(argv, {"--checkpoint", "--labels", "--batch", "--path", "--threads"},
               {"--help", "--probs"});
  if (a.has("--help")) {
    std::cout << kPredictUsage;
    return 0;
  }
  if (!a.has("--checkpoint")) throw UsageError("--checkpoint FILE is required");
  if (a.positional().empty()) throw UsageError("INPUT (an IDX images or optdigits file) is required");
  if (a.positional().size() > 1) throw UsageError("unexpected argument '" + a.positional()[1] + "'");
  const PathKind path = read_path(a);
  const int batch = static_cast<int>(a.integer("--batch", 256, 1, 1 << 20));
  read_threads(a);
  const bool probs = a.has("--probs");
  const std::string input = a.positional()[0];
  const std::string labels_file = a.has("--labels") ? a.str("--labels", "") : "";

  const Loaded l = load_model_file(a.str("--checkpoint", ""));
  data::Dataset d;
  bool labelled = true;
  if (data::is_idx_file(input)) {
    if (labels_file.empty()) {
      data::Images im = data::load_idx_images(input);
      d.c = 1;
      d.h = im.h;
      d.w = im.w;
      d.images = std::move(im.pixels);
      d.labels.assign(std::size_t(im.n), 0);
      d.source = input;
      labelled = false;
    } else {
      d = data::load_idx(input, labels_file);
    }
  } else {
    if (!labels_file.empty())
      throw UsageError("--labels is for IDX input; " + input + " is not an IDX file");
    d = data::load_optdigits(input);
  }
  check_data_fits(l.spec, d);
  auto net = make_network(path, l.spec, l.params);
  std::vector<float> logits;
  const std::vector<int> pred =
      predict_classes(*net, d.images.data(), d.size(), batch, probs ? &logits : nullptr);

  const int k = l.spec.classes();
  std::string out;
  std::vector<double> p(static_cast<std::size_t>(k));
  for (int i = 0; i < d.size(); ++i) {
    out += std::to_string(pred[std::size_t(i)]);
    if (probs) {
      // Softmax after subtracting the largest logit, in double.
      const float* z = logits.data() + std::size_t(i) * k;
      const double m = *std::max_element(z, z + k);
      double sum = 0;
      for (int j = 0; j < k; ++j) sum += (p[std::size_t(j)] = std::exp(double(z[j]) - m));
      for (int j = 0; j < k; ++j) {
        char b[32];
        std::snprintf(b, sizeof b, " %.6f", p[std::size_t(j)] / sum);
        out += b;
      }
    }
    out += '\n';
    if (out.size() > (1 << 16)) {
      std::cout << out;
      out.clear();
    }
  }
  std::cout << out << std::flush;
  if (labelled) {
    long correct = 0;
    for (int i = 0; i < d.size(); ++i) correct += pred[std::size_t(i)] == d.labels[std::size_t(i)];
    std::cerr << "accuracy " << fixed(double(correct) / d.size(), 4) << " (" << correct << " of "
              << d.size() << ") against the labels of "
              << (labels_file.empty() ? input : labels_file) << "\n";
  }
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
  std::printf("fast kernels: %s\nOpenMP threads: %d\n", fast::isa_summary().c_str(),
              omp_get_max_threads());
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
    // A bad SCRATCHCNN_ISA fails every command before it does any work, not only the fast path.
    const bool help = std::find(rest.begin(), rest.end(), "--help") != rest.end() ||
                      std::find(rest.begin(), rest.end(), "-h") != rest.end();
    if (!help && (cmd == "train" || cmd == "compare" || cmd == "eval" || cmd == "predict" ||
                  cmd == "info"))
      fast::active_isa();
    if (cmd == "train") return cmd_train(rest);
    if (cmd == "compare") return cmd_compare(rest);
    if (cmd == "eval") return cmd_eval(rest);
    if (cmd == "predict") return cmd_predict(rest);
    if (cmd == "info") return cmd_info(rest);
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::cerr << "scratchcnn " << cmd << ": " << e.what() << "\n\n";
    if (cmd == "train") std::cerr << with_flags(kTrainUsage);
    else if (cmd == "compare") std::cerr << with_flags(kCompareUsage);
    else if (cmd == "eval") std::cerr << kEvalUsage;
    else if (cmd == "predict") std::cerr << kPredictUsage;
    else if (cmd == "info") std::cerr << kInfoUsage;
    else std::cerr << kMainUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "scratchcnn " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
