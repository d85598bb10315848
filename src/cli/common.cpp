// Shared parts of the command-line tool (common.hpp).
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "scratchcnn/memory.hpp"

namespace fs = std::filesystem;

namespace scratchcnn::cli {

const char* const kTrainFlags = R"TXT(model:
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
  --threads N      OpenMP threads for the fast path, 1..1024 (default: all cores, or
                   OMP_NUM_THREADS, capped at 1024)
  --conv-algo A    the fast path's convolutions: auto (default), direct or im2col. They round
                   differently, so the choice is part of the run's bits (recorded in --save's
                   checkpoint); the reference path ignores it
  --max-memory S   refuse up front a run whose estimated memory (network, batch, threads, data)
                   exceeds S bytes, e.g. 512M or 8G; 0 = no limit (default: 3/4 of physical
                   memory, or of the cgroup or ulimit limit when lower)
)TXT";

std::string with_flags(const char* usage) {
  std::vector<char> buf(16384);
  std::snprintf(buf.data(), buf.size(), usage, kTrainFlags);
  return buf.data();
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


const std::set<std::string> kTrainValued = {"--model",    "--input",        "--init", "--data",
                                            "--epochs",   "--batch",        "--lr",   "--seed",
                                            "--threads",  "--momentum",     "--weight-decay",
                                            "--max-loss", "--max-memory",   "--conv-algo"};

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

namespace {

// The value of a training option's flag, or `fallback` when it is not given: parsed by Args and
// checked by the library's rule for the option (check_option, trainer.hpp: the ranges a
// checkpoint's values are checked against too); out of range is a usage error naming the flag.
double option_flag(const Args& a, TrainOption option, double fallback) {
  const OptionRange& r = option_range(option);
  if (!a.has(r.flag)) return fallback;
  using Limits = std::numeric_limits<double>;
  const double v = r.integer ? double(a.integer(r.flag, 0, std::numeric_limits<long long>::min(),
                                                std::numeric_limits<long long>::max()))
                             : a.real(r.flag, 0, Limits::lowest(), Limits::max());
  try {
    check_option(option, v, std::string(r.flag) + ":");
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  return v;
}

}  // namespace

// `resume`: the checkpoint of --resume, already read (train only).
Setup read_setup(const Args& a, const std::vector<PathKind>& paths, const Checkpoint* resume,
                 const std::string& resume_path) {
  Setup s;
  if (a.has("--input")) (void)read_input(a);  // a malformed shape is a usage error, checked first
  const int epochs = static_cast<int>(option_flag(a, TrainOption::Epochs, 0));
  const int batch = static_cast<int>(option_flag(a, TrainOption::Batch, 128));
  const float lr = static_cast<float>(option_flag(a, TrainOption::Lr, 0.1));
  const float momentum = static_cast<float>(option_flag(a, TrainOption::Momentum, 0));
  const float decay = static_cast<float>(option_flag(a, TrainOption::WeightDecay, 0));
  const std::uint64_t seed = a.seed("--seed", 1);
  const double max_loss = option_flag(a, TrainOption::MaxLoss, 0);
  const ConvAlgo conv = read_conv_algo(a);
  s.threads = read_threads(a);
  const std::uint64_t max_memory = read_max_memory(a);
  // Before any parameter array exists, then again with the data loaded.
  const auto check_memory = [&](std::uint64_t data) {
    // Copies the command holds besides the networks: the initial parameters and the velocities of
    // the training state (train); compare keeps the reference's parameters and velocities of every
    // epoch; a checkpoint write exports both and serialises them.
    const std::uint64_t copies =
        paths.size() > 1 ? 3 + 2 * std::uint64_t(std::max(s.opt.epochs, 0) + 1)
                         : a.has("--save") ? 7 : 3;
    check_command_memory(a, max_memory, s.spec, paths, s.opt.batch, s.threads, MemoryUse::Training,
                         copies * parameters_bytes(s.spec) + data * (paths.size() > 1 ? 2 : 1),
                         "training", NetworkOptions{s.opt.conv});
  };

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
    same("--conv-algo", conv_algo_name(conv), conv_algo_name(s.opt.conv), conv == s.opt.conv);
    if (a.has("--epochs")) s.opt.epochs = epochs;
    if (s.opt.epochs < resume->state.epoch)
      throw Error("--epochs " + std::to_string(s.opt.epochs) + ": " + resume_path +
                  " already holds " + std::to_string(resume->state.epoch) +
                  " epochs (--epochs counts from the run's start)");
    s.opt.first_epoch = resume->state.epoch + 1;
    check_memory(0);
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
    s.opt.conv = conv;
    check_memory(0);
    s.init = a.has("--init") ? load_parameters(a.str("--init", ""), s.spec)
                             : Parameters::he_uniform(s.spec, s.opt.seed);
    s.resumed.options = s.opt;
    s.resumed.velocity = Parameters::zeros(s.spec);
  }
  s.opt.max_loss = a.has("--max-loss") ? max_loss : 10.0 * std::log(double(s.spec.classes()));
  s.split = data::load_data_dir(a.str("--data", defaults_for(s.model_name).data), s.opt.seed);
  try {
    check_data_fits(s.spec, s.split.train);
    check_data_fits(s.spec, s.split.test);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (set --input or choose another --model)");
  }
  const DataFingerprint f = fingerprint(s.split);
  if (resume && !(f == resume->state.data))
    throw Error(resume_path + " was trained on data with " +
                std::to_string(resume->state.data.train) + " training and " +
                std::to_string(resume->state.data.test) +
                " test samples (labels hash " + std::to_string(resume->state.data.labels) + "); " +
                s.split.train.source + " has " + std::to_string(f.train) + " and " +
                std::to_string(f.test) + " (labels hash " + std::to_string(f.labels) + ")");
  s.resumed.data = f;
  check_memory(dataset_bytes(s.split.train) + dataset_bytes(s.split.test));
  s.opt.max_memory = max_memory;
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
  std::cout << ", seed " << s.opt.seed;
  if (s.opt.conv != ConvAlgo::Auto) std::cout << ", conv " << conv_algo_name(s.opt.conv);
  std::cout << "\n";
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
                                       const EpochCallback& after_epoch) {
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

Loaded load_model_file(const std::string& file) {
  InputFile in(file);
  const std::string& path = in.name();
  const std::string bytes = read_model_file(in);
  Loaded l;
  if (is_checkpoint(bytes)) {
    Checkpoint c = deserialize_checkpoint(bytes, path);
    l.spec = std::move(c.spec);
    l.params = std::move(c.params);
    l.has_seed = true;
    l.seed = c.state.options.seed;
    l.isa = c.state.isa;
    l.conv = c.state.options.conv;
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

ConvAlgo read_conv_algo(const Args& a, ConvAlgo fallback) {
  if (!a.has("--conv-algo")) return fallback;
  try {
    return parse_conv_algo(a.str("--conv-algo", ""));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

}  // namespace scratchcnn::cli
