// The model, data and training options of train and compare (setup.hpp).
#include "setup.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "budget.hpp"
#include "core/text.hpp"
#include "fast/layout.hpp"
#include "fast/reduce.hpp"
#include "format.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::cli {

const char* const kTrainFlags = R"TXT(model:
  --model M        seed (default), lenet5, lenet5-1998 (tanh and average pooling, as published),
                   fashion-cnn (batch norm, strided convolutions, gap, dropout), or model text
                   such as
                   "conv(1,2,k=3,pad=1) relu maxpool(2) flatten dense(32,10)"; @FILE reads the
                   model text from FILE, and so does a FILE that exists when M is neither a
                   built-in name nor model text (which always has a '(')
  --input CxHxW    input shape (default: 1x8x8 for seed and model text, 1x28x28 for the others)
  --init FILE      start from the parameters of a file written by --save (a checkpoint or a
                   parameter file; its optimizer state is not used). Default: He-uniform from
                   --seed
data:
  --data DIR       a folder with optdigits.tra + optdigits.tes; or the four MNIST-style IDX files
                   train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
                   t10k-labels-idx1-ubyte (each may be .gz; Fashion-MNIST, 28x28); or
                   digits.csv[.gz] (1,797 rows, then split 80/20, stratified and seeded); or
                   CIFAR-10 (data_batch_1..5.bin + test_batch.bin) or CIFAR-100 (train.bin +
                   test.bin) binary files; or your own PNG images: DIR/train/<class>/*.png and
                   DIR/test/<class>/*.png, or DIR/<class>/*.png (split 80/20 like digits.csv);
                   classes are the sub-folders, sorted (README.md, "Your own data").
                   Default: data for seed and model text (see scripts/fetch-data.sh),
                   /usr/share/datasets/fashion-mnist for lenet5, lenet5-1998 and fashion-cnn
                   (scripts/fetch-data.sh fashion-mnist)
  --channels N     1 or 3: convert every image (gray to RGB copies the value; RGB to gray is
                   0.299 R + 0.587 G + 0.114 B, ITU-R BT.601). Default: as the data has them
  --resize HxW     resize every image to H x W pixels, bilinear (half-pixel centres, no
                   antialiasing, as OpenCV's INTER_LINEAR). Default: as they are (an image folder's
                   images must then share one size). Checkpoints record both (and the class
                   names): eval, predict and --resume apply them
training (defaults per model: seed and model text | lenet5, lenet5-1998 | fashion-cnn):
  --epochs N       epochs, counted from the run's start (default 10 | 5 | 10)
  --batch N        minibatch size (default 128 | 32 | 128; the last partial batch is used)
  --lr X           SGD learning rate (default 0.1 | 0.05 | 0.05)
  --momentum X     SGD momentum, 0 = plain SGD (default 0 | 0 | 0.9)
  --optimizer O    sgd (default), nesterov (Nesterov's momentum: w = w - lr * (g + momentum * v);
                   needs --momentum above 0), adam or adamw (PyTorch's Adam and AdamW; their
                   defaults: --lr 0.001, and for adamw --weight-decay 0.01; no --momentum)
  --weight-decay X weight decay (default 0 | 0 | 5e-4): sgd, nesterov and adam add X * w to the
                   gradient, adamw first multiplies w by 1 - lr * X (decoupled)
                   The SGD update per parameter: g = mean gradient + X * w; v = momentum * v + g;
                   w = w - lr * v (w = w - lr * g when momentum is 0)
  --betas B1,B2    adam and adamw: decay rates of the moments, each 0..0.9999999 (default
                   0.9,0.999)
  --eps X          adam and adamw: added to the root of the second moment (default 1e-08)
  --lr-schedule S  the learning rate per epoch: constant (default; cosine for fashion-cnn),
                   step:EVERY:GAMMA (times GAMMA, 0..1, every EVERY epochs) or cosine (to 0 over
                   the epochs after the warm-up)
  --warmup N       epochs of linear warm-up first: epoch e of N at lr * e / (N + 1) (default 0)
  --seed N         seed for initial weights, shuffling and the data splits (default 1)
  --normalize N    put the input's scaling into the model as its first layer, so eval, predict,
                   the library and the ONNX export apply it too: none (default), meanstd (the
                   mean and standard deviation of each channel of the training part, computed
                   once) or scale:X (multiply by X: normalize(mean=0,std=1/X))
  --val-fraction F hold out F (0..0.9) of the training set for validation: a seeded split,
                   stratified by class; the validation loss and accuracy of every epoch are
                   printed and written to --metrics (default 0: none)
  --early-stop N   stop after N epochs without a validation loss below the best so far
                   (needs --val-fraction; default 0: never)
  --max-loss X     divergence guard: stop with an error (naming the epoch and batch) when a
                   batch's mean loss exceeds X; default 10 * ln(classes) (23.0 for 10 classes),
                   0 = stop only on a NaN or infinite loss. Checkpoints already written stay as
                   they are
  --threads N      OpenMP threads for the fast path: N (1..1024) runs every step on N; auto
                   (default) runs each step on the count, at most all cores (or OMP_NUM_THREADS,
                   capped at 1024), that measured step times show to be fastest now, measured
                   again when another process takes or frees a core. The bits are the same
                   for any thread count
  --conv-algo A    the fast path's convolutions: auto (default), direct or im2col. They round
                   differently, so the choice is part of the run's bits (train --save records
                   it in the checkpoint); the reference path ignores it
  --max-memory S   refuse up front a run whose estimated memory (network, batch, threads, data)
                   exceeds S bytes, e.g. 512M or 8G; 0 = no limit (default: 3/4 of physical
                   memory, or of the cgroup or ulimit limit when lower)
)TXT";

std::string usage_with(const char* usage, const char* flags) {
  std::string s = usage;
  const std::size_t at = s.find("%s");
  return at == std::string::npos ? s : s.replace(at, 2, flags);
}

std::string with_flags(const char* usage) { return usage_with(usage, kTrainFlags); }

const char* const kModelFileFlags = R"TXT(  --path P           fast (default) or reference
  --conv-algo A      the fast path's convolutions: auto, direct or im2col (default: the one the
                     checkpoint records, else auto); the reference path ignores it
  --threads N        OpenMP threads for the fast path, 1..1024, or auto (default): all cores, or
                     OMP_NUM_THREADS, capped at 1024
  --max-memory S     refuse up front when the estimated memory (network, data) exceeds S, e.g.
                     512M or 8G; 0 = no limit (default: 3/4 of physical memory, or of a lower
                     cgroup or ulimit limit)
)TXT";

const std::set<std::string> kTrainValued = {"--model",    "--input",        "--init", "--data",
                                            "--epochs",   "--batch",        "--lr",   "--seed",
                                            "--threads",  "--momentum",     "--weight-decay",
                                            "--max-loss", "--max-memory", "--conv-algo",
                                            "--lr-schedule", "--warmup", "--optimizer",
                                            "--betas", "--eps", "--val-fraction", "--early-stop",
                                            "--normalize", "--channels", "--resize"};

Defaults defaults_for(const std::string& model_name) {
  if (model_name == "lenet5" || model_name == "lenet5-1998")
    return Defaults{5, 32, 0.05, 0, "/usr/share/datasets/fashion-mnist"};
  if (model_name == "fashion-cnn")
    return Defaults{10, 128, 0.05, 0.9, "/usr/share/datasets/fashion-mnist", 5e-4, LrSchedule::Cosine};
  return Defaults{};
}

std::string builtin_name(const ModelSpec& spec) {
  // A built-in with a normalize layer put first (--normalize) is still that built-in.
  std::string text = spec.full_text();
  if (!spec.layers.empty() && spec.layers[0].kind == LayerKind::Normalize) {
    const std::string first = spec.layers[0].text() + " ";
    text.erase(text.find(first), first.size());
  }
  for (const BuiltinModel& b : kBuiltinModels)
    if (model_from_name(b.name).full_text() == text) return b.name;
  return {};
}

namespace {

// The model text of a file, at most kMaxModelText bytes, without a final newline.
std::string read_model_text(const std::string& path) {
  try {
    InputFile in(path);
    std::string text = in.read(std::size_t(kMaxModelText) + 1);
    if (text.size() > kMaxModelText)
      throw Error(in.name() + ": longer than " + std::to_string(kMaxModelText) +
                  " bytes, the most model text may have");
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  } catch (const Error& e) {
    throw Error(std::string("--model: ") + e.what());
  }
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace

std::string model_file(const Args& a) {
  const std::string v = a.str("--model", "seed");
  if (!v.empty() && v[0] == '@') {
    if (v.size() == 1) throw UsageError("--model @: a file name must follow the @");
    return v.substr(1);
  }
  if (!find_builtin(v) && v.find('(') == std::string::npos && is_file(v)) return v;
  return {};
}

std::string model_value(const Args& a) {
  const std::string file = model_file(a);
  if (file.empty()) return a.str("--model", "seed");
  // Read once per file: train and compare ask again, and a FIFO or - could not be read twice.
  static std::map<std::string, std::string> read;
  if (const auto it = read.find(file); it != read.end()) return it->second;
  return read[file] = read_model_text(file);
}

Shape read_input(const Args& a) {
  try {
    return parse_shape(a.str("--input", ""), "--input");
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

std::string model_name(const Args& a) { return builtin_name(read_model(a, model_value(a))); }

ModelSpec read_model(const Args& a, const std::string& value) {
  const bool has_input = a.has("--input");
  const Shape input = has_input ? read_input(a) : Shape{};
  try {
    return model_from_name(value, has_input ? &input : nullptr);
  } catch (const Error& e) {
    const std::string file = model_file(a);
    throw Error("--model" + (file.empty() ? std::string() : " " + file) + ": " + e.what());
  }
}

data::LoadOptions load_options_for(const Args& a, const data::LoadOptions& recorded,
                                   const std::string& file) {
  data::LoadOptions o = read_load_options(a);
  const auto text = [](int c, int h, int w, bool channels) {
    return channels ? std::to_string(c) : std::to_string(h) + "x" + std::to_string(w);
  };
  if (!a.has("--channels")) o.channels = recorded.channels;
  else if (recorded.channels != 0 && o.channels != recorded.channels)
    throw Error("--channels " + text(o.channels, 0, 0, true) + " differs from the " +
                text(recorded.channels, 0, 0, true) + " that " + file + " was trained with");
  if (!a.has("--resize")) {
    o.resize_h = recorded.resize_h;
    o.resize_w = recorded.resize_w;
  } else if (recorded.resize_h != 0 && (o.resize_h != recorded.resize_h || o.resize_w != recorded.resize_w)) {
    throw Error("--resize " + text(0, o.resize_h, o.resize_w, false) + " differs from the " +
                text(0, recorded.resize_h, recorded.resize_w, false) + " that " + file +
                " was trained with");
  }
  return o;
}

data::LoadOptions read_load_options(const Args& a) {
  data::LoadOptions o;
  if (a.has("--channels")) {
    const std::string v = a.str("--channels", "");
    if (v != "1" && v != "3") throw UsageError("--channels: '" + v + "' is not 1 or 3");
    o.channels = v == "1" ? 1 : 3;
  }
  if (a.has("--resize")) {
    try {
      data::parse_resize(a.str("--resize", ""), o, "--resize");
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  return o;
}

void check_fits(const ModelSpec& spec, const data::Dataset& d, const std::string& advice) {
  try {
    check_data_fits(spec, d);
  } catch (const Error& e) {
    const Shape data_shape{d.c, d.h, d.w, false};
    std::string hint;
    if (!(data_shape == spec.input))
      hint = " (the data's images are " + data_shape.str() + ": " + advice +
             "; --channels 1|3 and --resize HxW reshape the data)";
    else if (spec.classes() != d.classes)
      hint = " (the data has " + std::to_string(d.classes) +
             " classes: the model's last layer must output " + std::to_string(d.classes) + ")";
    throw Error(std::string(e.what()) + hint);
  }
}

PathKind read_path(const Args& a) {
  try {
    return parse_path(a.str("--path", "fast"));
  } catch (const Error& e) {
    throw UsageError(std::string("--path: ") + e.what());
  }
}

int read_batch(const Args& a, int fallback) {
  const OptionRange& r = option_range(TrainOption::Batch);
  return static_cast<int>(a.integer("--batch", fallback, static_cast<long long>(r.lo),
                                    static_cast<long long>(r.hi)));
}

ConvAlgo read_conv_algo(const Args& a, ConvAlgo fallback) {
  if (!a.has("--conv-algo")) return fallback;
  try {
    return parse_conv_algo(a.str("--conv-algo", ""));
  } catch (const Error& e) {
    throw UsageError(std::string("--conv-algo: ") + e.what());
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

// The training options' flags, each checked (a given one overrides the model's default).
struct OptionFlags {
  int epochs = 0, batch = 0;
  float lr = 0, momentum = 0, decay = 0;
  std::uint64_t seed = 1;
  double max_loss = 0;
  ConvAlgo conv = ConvAlgo::Auto;
  float val_fraction = 0;
  int early_stop = 0;
  TrainOptions schedule;  // --lr-schedule, --warmup, --optimizer, --betas and --eps, in those fields
};

OptionFlags read_option_flags(const Args& a) {
  OptionFlags f;
  f.epochs = static_cast<int>(option_flag(a, TrainOption::Epochs, 0));
  f.batch = static_cast<int>(option_flag(a, TrainOption::Batch, 128));
  f.lr = static_cast<float>(option_flag(a, TrainOption::Lr, 0.1));
  f.momentum = static_cast<float>(option_flag(a, TrainOption::Momentum, 0));
  f.decay = static_cast<float>(option_flag(a, TrainOption::WeightDecay, 0));
  f.seed = a.seed("--seed", 1);
  f.conv = read_conv_algo(a);
  f.max_loss = option_flag(a, TrainOption::MaxLoss, 0);
  f.val_fraction = static_cast<float>(option_flag(a, TrainOption::ValFraction, 0));
  f.early_stop = static_cast<int>(option_flag(a, TrainOption::EarlyStop, 0));
  try {
    if (a.has("--lr-schedule")) parse_lr_schedule(a.str("--lr-schedule", ""), f.schedule, "--lr-schedule");
    if (a.has("--optimizer")) f.schedule.optimizer = parse_optimizer(a.str("--optimizer", ""), "--optimizer");
    if (a.has("--betas")) parse_betas(a.str("--betas", ""), f.schedule, "--betas");
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  f.schedule.warmup = static_cast<int>(option_flag(a, TrainOption::Warmup, 0));
  f.schedule.eps = static_cast<float>(option_flag(a, TrainOption::Eps, double(TrainOptions{}.eps)));
  return f;
}

// The memory of the run's networks, the copies the command holds besides them and `data` bytes
// of data: the initial parameters and the velocities of the training state (train); compare keeps
// the reference's parameters and velocities of every epoch; a checkpoint write exports both and
// serialises them.
void check_setup_memory(const Args& a, const Setup& s, const std::vector<PathKind>& paths,
                        std::uint64_t limit, std::uint64_t data, int batch) {
  const std::uint64_t copies = paths.size() > 1
                                   ? 3 + 2 * std::uint64_t(std::max(s.opt.epochs, 0) + 1)
                               : a.has("--save") ? 7
                                                 : 3;
  check_command_memory(a, limit, s.spec, paths, batch, s.threads, MemoryUse::Training,
                       copies * parameters_bytes(s.spec) + data * (paths.size() > 1 ? 2 : 1),
                       "training", NetworkOptions{s.opt.conv});
}

// Before the data is loaded. The data may hold fewer samples than --batch, and a batch never holds
// more than the data: so refuse only what even a batch of 1 does not fit (the message names the
// batch asked for).
void check_memory_before_data(const Args& a, const Setup& s, const std::vector<PathKind>& paths,
                              std::uint64_t limit) {
  try {
    check_setup_memory(a, s, paths, limit, 0, s.opt.batch);
  } catch (const Error&) {
    bool fits_one = true;
    try {
      check_setup_memory(a, s, paths, limit, 0, 1);
    } catch (const Error&) {
      fits_one = false;
    }
    if (!fits_one) throw;
  }
}

// --betas and --eps belong to Adam and AdamW: refused with another optimizer (a new run's, or the
// one a resumed checkpoint records).
void check_adam_flags(const Args& a, Optimizer optimizer) {
  if (!is_adam(optimizer))
    for (const char* flag : {"--betas", "--eps"})
      if (a.has(flag))
        throw UsageError(std::string(flag) + " is for --optimizer adam or adamw (the run's is " +
                         optimizer_name(optimizer) + ")");
}

// A resumed run keeps its options: a flag that differs would not continue the same run.
void check_resumed_options(const Args& a, const OptionFlags& f, const TrainOptions& o,
                           const std::string& resume_path) {
  auto same = [&](const char* flag, const std::string& given, const std::string& saved,
                  bool equal) {
    if (a.has(flag) && !equal)
      throw Error(std::string(flag) + " " + given + " differs from the " + saved + " that " +
                  resume_path + " was trained with (a resumed run keeps its options; drop " +
                  flag + ")");
  };
  same("--batch", std::to_string(f.batch), std::to_string(o.batch), f.batch == o.batch);
  same("--lr", shortest(f.lr), shortest(o.lr), f.lr == o.lr);
  same("--momentum", shortest(f.momentum), shortest(o.momentum), f.momentum == o.momentum);
  same("--weight-decay", shortest(f.decay), shortest(o.weight_decay), f.decay == o.weight_decay);
  same("--seed", std::to_string(f.seed), std::to_string(o.seed), f.seed == o.seed);
  same("--conv-algo", conv_algo_name(f.conv), conv_algo_name(o.conv), f.conv == o.conv);
  same("--lr-schedule", lr_schedule_text(f.schedule), lr_schedule_text(o),
       lr_schedule_text(f.schedule) == lr_schedule_text(o));
  same("--warmup", std::to_string(f.schedule.warmup), std::to_string(o.warmup), f.schedule.warmup == o.warmup);
  same("--optimizer", optimizer_name(f.schedule.optimizer), optimizer_name(o.optimizer),
       f.schedule.optimizer == o.optimizer);
  same("--betas", betas_text(f.schedule), betas_text(o),
       f.schedule.beta1 == o.beta1 && f.schedule.beta2 == o.beta2);
  same("--eps", shortest(f.schedule.eps), shortest(o.eps), f.schedule.eps == o.eps);
  same("--val-fraction", shortest(f.val_fraction), shortest(o.val_fraction),
       f.val_fraction == o.val_fraction);
}

// --early-stop (not recorded: it changes no step) for a run validating on o.val_fraction.
void set_early_stop(const OptionFlags& f, TrainOptions& o, bool resumed) {
  o.early_stop = f.early_stop;
  if (o.early_stop > 0 && !(o.val_fraction > 0))
    throw UsageError(resumed ? std::string("--early-stop needs a validation set, and the resumed "
                                           "run has none (it was started without --val-fraction)")
                             : std::string("--early-stop needs a validation set: add --val-fraction "
                                           "(e.g. 0.1)"));
}

// Model, options and state of a run resumed from checkpoint `c`.
void setup_resumed(Setup& s, const Args& a, const OptionFlags& f, const Checkpoint& c,
                   const std::string& resume_path) {
  s.spec = c.spec;
  s.model_name = builtin_name(s.spec);
  if (a.has("--model") || a.has("--input")) {
    const ModelSpec asked = read_model(a, model_value(a));
    if (asked.full_text() != s.spec.full_text())
      throw Error(resume_path + ": made for model '" + s.spec.full_text() + "', not for '" +
                  asked.full_text() + "' (--model/--input)");
  }
  s.opt = c.state.options;
  if (a.has("--normalize"))
    throw UsageError("--normalize is for a new run: a resumed run's model already holds its "
                     "normalisation (" + resume_path + ")");
  check_adam_flags(a, s.opt.optimizer);
  check_resumed_options(a, f, s.opt, resume_path);
  // A cosine schedule spans the run's planned epochs: other --epochs would bend the rest of it.
  if (s.opt.schedule == LrSchedule::Cosine && a.has("--epochs") && f.epochs != s.opt.epochs)
    throw Error("--epochs " + std::to_string(f.epochs) + " differs from the " +
                std::to_string(s.opt.epochs) + " that " + resume_path +
                " was planned with; its cosine schedule spans those epochs, so a resumed run keeps them "
                "(drop --epochs)");
  set_early_stop(f, s.opt, true);
  if (a.has("--epochs")) s.opt.epochs = f.epochs;
  if (s.opt.epochs < c.state.epoch)
    throw Error("--epochs " + std::to_string(s.opt.epochs) + ": " + resume_path +
                " already holds " + std::to_string(c.state.epoch) +
                " epochs (--epochs counts from the run's start)");
  s.opt.first_epoch = c.state.epoch + 1;
}

// Model and options of a new run: the flags, else the model's defaults.
void setup_new(Setup& s, const Args& a, const OptionFlags& f) {
  s.spec = read_model(a, model_value(a));
  s.model_name = builtin_name(s.spec);  // lenet5's text, inline or from a file, is lenet5
  const Defaults d = defaults_for(s.model_name);
  s.opt.epochs = a.has("--epochs") ? f.epochs : d.epochs;
  s.opt.batch = a.has("--batch") ? f.batch : d.batch;
  const bool adam = is_adam(f.schedule.optimizer);
  // Adam and AdamW take PyTorch's defaults for them, whatever the model's for SGD.
  s.opt.lr = a.has("--lr") ? f.lr : adam ? 0.001f : static_cast<float>(d.lr);
  s.opt.momentum = a.has("--momentum") ? f.momentum : adam ? 0.0f : static_cast<float>(d.momentum);
  s.opt.weight_decay = a.has("--weight-decay")                   ? f.decay
                       : f.schedule.optimizer == Optimizer::AdamW ? 0.01f
                       : adam                                     ? 0.0f
                                                                  : static_cast<float>(d.weight_decay);
  s.opt.seed = f.seed;
  s.opt.conv = f.conv;
  s.opt.schedule = a.has("--lr-schedule") ? f.schedule.schedule : d.schedule;
  s.opt.step_every = f.schedule.step_every;
  s.opt.step_gamma = f.schedule.step_gamma;
  s.opt.warmup = f.schedule.warmup;
  s.opt.optimizer = f.schedule.optimizer;
  check_adam_flags(a, s.opt.optimizer);
  s.opt.val_fraction = f.val_fraction;
  set_early_stop(f, s.opt, false);
  s.opt.beta1 = f.schedule.beta1;
  s.opt.beta2 = f.schedule.beta2;
  s.opt.eps = f.schedule.eps;
  if (s.opt.optimizer == Optimizer::Nesterov && !(s.opt.momentum > 0))
    throw UsageError("--optimizer nesterov needs --momentum above 0 (Nesterov's rule is a momentum rule)");
  if (adam && s.opt.momentum != 0)
    throw UsageError(std::string("--momentum is for sgd and nesterov; --optimizer ") +
                     optimizer_name(s.opt.optimizer) + " decays its moments by --betas");
}

// The data of --data (or the model's default folder), checked against the model and, for a
// resumed run, against the data the checkpoint was trained on.
void load_split(Setup& s, const Args& a, const Checkpoint* resume, const std::string& resume_path) {
  s.load = resume ? load_options_for(a, resume->state.load, resume_path) : read_load_options(a);
  s.split = data::load_data_dir(a.str("--data", defaults_for(s.model_name).data), s.opt.seed, s.load);
  const std::string advice = "give --input " + std::to_string(s.split.train.c) + "x" +
                             std::to_string(s.split.train.h) + "x" +
                             std::to_string(s.split.train.w) + " or choose another --model";
  check_fits(s.spec, s.split.train, advice);
  check_fits(s.spec, s.split.test, advice);
  const DataFingerprint f = fingerprint(s.split);
  const DataFingerprint* r = resume ? &resume->state.data : nullptr;
  if (r && !(f == *r))
    throw Error(resume_path + " was trained on data with " + std::to_string(r->train) +
                " training and " + std::to_string(r->test) + " test samples (labels hash " +
                std::to_string(r->labels) + "); " + s.split.train.source + " has " +
                std::to_string(f.train) + " and " + std::to_string(f.test) + " (labels hash " +
                std::to_string(f.labels) + ")");
  s.resumed.data = f;
  // The validation part comes out of the training set after the fingerprint, which is of the
  // data as loaded.
  if (s.opt.val_fraction > 0) {
    data::Split v = validation_split(s.split.train, s.opt.val_fraction, s.opt.seed);
    s.split.train = std::move(v.train);
    s.val = std::move(v.test);
  }
}

// --normalize of a new run: the normalize layer put first in the model (the initial parameters
// get its empty entry), from the training part of the data (after the validation split).
void apply_normalize(Setup& s, const Args& a) {
  const std::string how = a.str("--normalize", "none");
  if (how == "none") return;
  std::string mean, stdev;
  if (how == "meanstd") {
    const data::ChannelStats st = data::channel_stats(s.split.train);
    for (std::size_t c = 0; c < st.mean.size(); ++c) {
      if (!(st.stdev[c] >= 1e-12))
        throw Error("--normalize meanstd: channel " + std::to_string(c) + " of " +
                    s.split.train.source + " is constant (standard deviation " +
                    std::to_string(st.stdev[c]) + "); use --normalize scale:X or none");
      mean += (c ? ":" : "") + shortest(float(st.mean[c]));
      stdev += (c ? ":" : "") + shortest(float(st.stdev[c]));
    }
  } else if (how.rfind("scale:", 0) == 0) {
    const std::string x = how.substr(6);
    const double v = parse_finite(x).value_or(0.0);
    if (!(v > 0) || !std::isfinite(float(1.0 / v)) || !(float(1.0 / v) >= 1e-30f))
      throw UsageError("--normalize " + excerpt(how) +
                       ": X must be a finite number above 0 whose inverse is a float of at "
                       "least 1e-30 (scale:X multiplies the input by X)");
    mean = "0";
    stdev = shortest(float(1.0 / v));
  } else {
    throw UsageError("--normalize " + excerpt(how) + ": expects none, meanstd or scale:X");
  }
  s.spec = parse_model("normalize(mean=" + mean + ",std=" + stdev + ") " + s.spec.text(), s.spec.input);
  s.init.layers.insert(s.init.layers.begin(), LayerParams{});
  s.resumed.velocity = Parameters::zeros(s.spec);
  s.resumed.second = Parameters::zeros(s.spec);
}

}  // namespace

Setup read_setup(const Args& a, std::uint64_t max_memory, const std::vector<PathKind>& paths,
                 const Checkpoint* resume, const std::string& resume_path) {
  Setup s;
  s.quiet = a.has("--quiet");
  if (a.has("--input")) (void)read_input(a);  // a malformed shape is a usage error, checked first
  (void)read_load_options(a);                 // so are --channels and --resize
  const OptionFlags f = read_option_flags(a);
  bool fixed = false;
  s.threads = read_threads(a, &fixed);
  // Memory: before any parameter array exists, then again with the data loaded.
  if (resume) {
    setup_resumed(s, a, f, *resume, resume_path);
    check_memory_before_data(a, s, paths, max_memory);
    s.init = resume->params;
    s.resumed_from = resume_path;
    s.resumed = resume->state;
  } else {
    setup_new(s, a, f);
    check_memory_before_data(a, s, paths, max_memory);
    s.init = a.has("--init") ? load_parameters(a.str("--init", ""), s.spec)
                             : Parameters::he_uniform(s.spec, s.opt.seed);
    s.resumed.options = s.opt;
    s.resumed.velocity = Parameters::zeros(s.spec);
    s.resumed.second = Parameters::zeros(s.spec);
  }
  s.opt.max_loss = a.has("--max-loss") ? f.max_loss : 10.0 * std::log(double(s.spec.classes()));
  load_split(s, a, resume, resume_path);
  if (!resume) apply_normalize(s, a);
  check_setup_memory(a, s, paths, max_memory,
                     dataset_bytes(s.split.train) + dataset_bytes(s.split.test) + dataset_bytes(s.val),
                     std::min(s.opt.batch, s.split.train.size()));
  s.opt.max_memory = max_memory;
  s.opt.thread_policy = fixed ? ThreadPolicy::Fixed : ThreadPolicy::Adaptive;
  return s;
}

std::string threads_text(const std::string& path, const ModelSpec& spec, int batch, int threads,
                         ThreadPolicy policy) {
  const auto plural = [](int n) { return std::to_string(n) + (n == 1 ? " thread" : " threads"); };
  if (path == "reference") return plural(1) + (threads > 1 ? " (the reference path runs on one)" : "");
  const int used = step_threads(PathKind::Fast, spec, batch, threads);
  std::string t = used < threads ? std::to_string(used) + " of " + plural(threads) +
                                       " (steps too small for more)"
                  : policy == ThreadPolicy::Adaptive && threads > 1
                      ? "1-" + plural(threads) + " (adaptive: the fastest count, measured)"
                      : plural(threads);
  return path == "fast" ? t : t + " on the fast path, 1 on the reference";
}

void print_header(const Setup& s, const std::string& path) {
  if (s.quiet) return;
  std::cout << "model   " << (find_builtin(s.model_name) ? s.model_name + ": " : "")
            << s.spec.full_text() << " (" << with_commas(s.spec.param_count()) << " parameters)\n"
            << "data    " << s.split.train.source << ": " << s.split.train.size() << " training, "
            << s.split.test.size() << " test samples";
  if (s.val.size() > 0)
    std::cout << ", " << s.val.size() << " of the training samples held out for validation ("
              << shortest(s.opt.val_fraction) << ", stratified)";
  std::cout << "\n";
  if (!s.split.note.empty()) {
    std::cout << "note    " << s.split.note << "\n";
    std::cerr << "note: " << s.split.note << "\n";
  }
  // A step never holds more than the training set.
  const int step = std::min(s.opt.batch, s.split.train.size());
  // A process of an MPI job computes its share of a step's 16-sample chunks: the largest share.
  const int chunks = fast::chunk_count(step);
  int most = 0;
  for (int r = 0; r < s.processes; ++r) {
    const auto [first, last] = fast::chunk_share(chunks, s.processes, r);
    most = std::max(most, last - first);
  }
  const int share = std::min(step, most * fast::kChunk);
  const std::string on =
      s.processes > 1 ? std::to_string(s.processes) + " processes (MPI), " +
                            threads_text(path, s.spec, share, s.threads, s.opt.thread_policy) + " each"
                      : threads_text(path, s.spec, step, s.threads, s.opt.thread_policy);
  std::cout << "run     path " << path << ", " << on << ", " << s.opt.epochs << " epochs, batch " << s.opt.batch << ", lr " << s.opt.lr;
  if (s.opt.schedule != LrSchedule::Constant) std::cout << " (" << lr_schedule_text(s.opt) << ")";
  if (s.opt.warmup != 0) std::cout << ", warm-up " << s.opt.warmup << " epoch" << (s.opt.warmup == 1 ? "" : "s");
  if (s.opt.momentum != 0) std::cout << ", momentum " << s.opt.momentum;
  if (is_adam(s.opt.optimizer))
    std::cout << ", " << optimizer_name(s.opt.optimizer) << " (betas " << betas_text(s.opt)
              << ", eps " << shortest(s.opt.eps) << ")";
  else if (s.opt.optimizer != Optimizer::Sgd)
    std::cout << " (" << optimizer_name(s.opt.optimizer) << ")";
  if (s.opt.weight_decay != 0) std::cout << ", weight decay " << s.opt.weight_decay;
  std::cout << ", seed " << s.opt.seed;
  if (s.opt.conv != ConvAlgo::Auto) std::cout << ", conv " << conv_algo_name(s.opt.conv);
  if (s.opt.early_stop > 0)
    std::cout << ", early stop after " << s.opt.early_stop << " epoch"
              << (s.opt.early_stop == 1 ? "" : "s") << " without a lower validation loss";
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

}  // namespace scratchcnn::cli
