#include "scratchcnn/checkpoint.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "io/binary_io.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn {

using detail::kCheckpointMagic;
using detail::put;
using detail::put_values;
using detail::seal;
using detail::start_file;

namespace {

// Adam's hyper-parameters (version 5), checked with the flags' rules.
void check_adam(double beta1, double beta2, double eps, const std::string& label) {
  check_option(TrainOption::Beta1, beta1, label + "beta1");
  check_option(TrainOption::Beta2, beta2, label + "beta2");
  check_option(TrainOption::Eps, eps, label + "eps");
}

// Class names: none, or one per class of the model, each 1..kMaxClassName bytes without control
// characters, all distinct.
void check_class_names(const std::vector<std::string>& names, const ModelSpec& spec,
                       const std::string& label) {
  if (names.empty()) return;
  if (names.size() != std::size_t(spec.classes()))
    throw Error(label + std::to_string(names.size()) + " class names for a model of " +
                std::to_string(spec.classes()) + " classes");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& n = names[i];
    if (n.empty() || n.size() > kMaxClassName)
      throw Error(label + "class name " + std::to_string(i) + " has " + std::to_string(n.size()) +
                  " bytes (1.." + std::to_string(kMaxClassName) + ")");
    for (const char ch : n)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
        throw Error(label + "class name " + std::to_string(i) + " holds a control character");
    if (!seen.insert(n).second)
      throw Error(label + "class name " + std::to_string(i) + " repeats an earlier one");
  }
}

// --channels and --resize as a run records them.
void check_load(const data::LoadOptions& l, const std::string& label) {
  if (l.channels != 0 && l.channels != 1 && l.channels != 3)
    throw Error(label + "channels " + std::to_string(l.channels) + " is not 0, 1 or 3");
  const bool none = l.resize_h == 0 && l.resize_w == 0;
  const auto side = [](int v) { return v >= 1 && v <= data::kMaxImageSide; };
  if (!none && !(side(l.resize_h) && side(l.resize_w)))
    throw Error(label + "resize " + std::to_string(l.resize_h) + "x" + std::to_string(l.resize_w) +
                " is not HxW with each side 1.." + std::to_string(data::kMaxImageSide));
}

// The schedule fields of `o` (written from version 4 on), checked as validate() checks them.
void check_schedule(const TrainOptions& o, const std::string& label) {
  if (o.schedule != LrSchedule::Constant && o.schedule != LrSchedule::Step && o.schedule != LrSchedule::Cosine)
    throw Error(label + "learning-rate schedule " + std::to_string(int(o.schedule)) + " is unknown");
  check_option(TrainOption::StepEvery, o.step_every, label + "schedule step (epochs)");
  check_option(TrainOption::StepGamma, o.step_gamma, label + "schedule gamma");
  check_option(TrainOption::Warmup, o.warmup, label + "warm-up epochs");
  check_optimizer(o, label);
  if (is_adam(o.optimizer)) check_adam(o.beta1, o.beta2, o.eps, label);
}

// The stored options, checked with the flags' rules (check_option) and the epoch against them;
// each message starts with `label` ("run.ckpt: ") and names the field. Doubles hold every value
// of the stored types exactly (u32, f32) and of ints.
void check_stored_options(double epoch, double epochs, double batch, double lr, double momentum,
                          double weight_decay, const std::string& label) {
  const auto check = [&](TrainOption option, double v) {
    check_option(option, v, label + option_range(option).name);
  };
  check(TrainOption::Epochs, epochs);
  check(TrainOption::Batch, batch);
  check(TrainOption::Lr, lr);
  check(TrainOption::Momentum, momentum);
  check(TrainOption::WeightDecay, weight_decay);
  if (!(epoch >= 0 && epoch <= epochs))
    throw Error(label + "epochs completed " + std::to_string(static_cast<long long>(epoch)) +
                " is outside 0..epochs (" + std::to_string(static_cast<long long>(epochs)) + ")");
}

bool valid_isa(const std::string& isa) {
  if (isa.size() > kMaxIsaLength) return false;
  for (const char ch : isa)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
          ch == '+' || ch == '-'))
      return false;
  return true;
}

}  // namespace

DataFingerprint fingerprint(const data::Split& split) {
  DataFingerprint f;
  f.train = static_cast<std::uint32_t>(split.train.size());
  f.test = static_cast<std::uint32_t>(split.test.size());
  std::string labels;
  labels.reserve(split.train.labels.size() + split.test.labels.size());
  // One byte per label below 256 (the bytes every earlier version hashed), two (little-endian)
  // from 256 on, so that up to 65535 classes never collide.
  for (const auto* d : {&split.train, &split.test})
    for (int l : d->labels) {
      labels.push_back(static_cast<char>(static_cast<unsigned char>(l)));
      if (l >= 256) labels.push_back(static_cast<char>(static_cast<unsigned char>(l >> 8)));
    }
  f.labels = fnv1a64(labels.data(), labels.size());
  return f;
}

std::string serialize_checkpoint(const ModelSpec& spec, const Parameters& params,
                                 const TrainingState& state) {
  check_parameters(spec, params);
  check_parameters(spec, state.velocity);
  // Running statistics belong to the values only (put_values would write them again).
  for (const Parameters* set : {&state.velocity, &state.second})
    for (const LayerParams& l : set->layers)
      if (!l.running.empty())
        throw Error("checkpoint: a velocity or second-moment set holds running statistics");
  if (state.history.size() != std::size_t(state.epoch))
    throw Error("checkpoint: " + std::to_string(state.history.size()) +
                " epochs of metrics for " + std::to_string(state.epoch) + " completed epochs");
  const TrainOptions& o = state.options;
  check_stored_options(state.epoch, o.epochs, o.batch, o.lr, o.momentum, o.weight_decay,
                       "checkpoint: ");
  if (!valid_isa(state.isa))
    throw Error("checkpoint: the instruction-set level is not a short lowercase name");
  check_conv_algo(o.conv, "checkpoint: ");
  check_schedule(o, "checkpoint: ");
  // Each version is written only by the runs that need it, so a run without its options writes
  // the bytes it wrote before that version existed: 2 for the defaults, 3 with --conv-algo direct
  // or im2col, 4 with a learning-rate schedule, warm-up or the nesterov optimizer (the algorithm,
  // Auto included, the schedule and the optimizer), 5 with adam or adamw (all of 4's fields, the
  // second moments and Adam's hyper-parameters).
  // Version 6 (a validation split) holds every field of version 5, with zero second moments under
  // the optimizers that keep none.
  const bool with_adam = is_adam(o.optimizer);
  if (with_adam) check_parameters(spec, state.second);
  check_option(TrainOption::ValFraction, o.val_fraction, "checkpoint: validation fraction");
  const bool with_val = o.val_fraction > 0;
  const bool with_schedule =
      o.schedule != LrSchedule::Constant || o.warmup > 0 || o.optimizer != Optimizer::Sgd;
  check_class_names(state.class_names, spec, "checkpoint: ");
  check_load(state.load, "checkpoint: ");
  const bool with_data = !state.class_names.empty() || !(state.load == data::LoadOptions{});
  // Version 8 (batch norm's running statistics after the values) holds every field of version 7.
  const bool with_running = spec.running_count() > 0;
  const std::uint32_t version = with_running ? 8
                                : with_data   ? 7
                                : with_val  ? 6
                                : with_adam ? 5
                                : with_schedule           ? 4
                                : o.conv != ConvAlgo::Auto ? 3
                                                           : 2;
  for (const EpochMetrics& m : state.history)
    if (with_val && !(m.val_loss >= 0 && m.val_accuracy >= 0 && m.val_accuracy <= 1))
      throw Error("checkpoint: epoch " + std::to_string(m.epoch) +
                  " has no validation metrics in a run with a validation split");
  std::string out = start_file(kCheckpointMagic, version, spec, params);
  put_values(out, state.velocity);
  if (version >= 5) put_values(out, with_adam ? state.second : Parameters::zeros(spec));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(state.epoch));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(o.epochs));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(o.batch));
  put<float>(out, o.lr);
  put<float>(out, o.momentum);
  put<float>(out, o.weight_decay);
  put<std::uint64_t>(out, o.seed);
  put<std::uint32_t>(out, state.data.train);
  put<std::uint32_t>(out, state.data.test);
  put<std::uint64_t>(out, state.data.labels);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(state.isa.size()));
  out += state.isa;
  if (version >= 3) put<std::uint32_t>(out, static_cast<std::uint32_t>(o.conv));
  if (version >= 4) {
    put<std::uint32_t>(out, static_cast<std::uint32_t>(o.schedule));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(o.step_every));
    put<float>(out, o.step_gamma);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(o.warmup));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(o.optimizer));
  }
  if (version >= 5) {
    put<float>(out, o.beta1);
    put<float>(out, o.beta2);
    put<float>(out, o.eps);
  }
  if (version >= 6) put<float>(out, o.val_fraction);
  if (version >= 7) {
    put<std::uint32_t>(out, static_cast<std::uint32_t>(state.load.channels));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(state.load.resize_h));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(state.load.resize_w));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(state.class_names.size()));
    for (const std::string& n : state.class_names) {
      put<std::uint32_t>(out, static_cast<std::uint32_t>(n.size()));
      out += n;
    }
  }
  put<std::uint32_t>(out, static_cast<std::uint32_t>(state.history.size()));
  for (const auto& m : state.history) {
    put<double>(out, m.loss);
    put<double>(out, m.train_accuracy);
    put<double>(out, m.test_accuracy);
    if (with_val) {
      put<double>(out, m.val_loss);
      put<double>(out, m.val_accuracy);
    }
  }
  seal(out);
  return out;
}

namespace {

// Tells a parameter file apart from other bytes that are no checkpoint: it is valid input
// elsewhere (--init).
[[noreturn]] void refuse_non_checkpoint(const std::string& bytes, const std::string& where) {
  try {
    (void)parameter_file_model(bytes, where);
  } catch (const Error&) {
    throw Error(where + ": not a scratchcnn checkpoint (bad magic)");
  }
  throw Error(where + ": a parameter file, not a checkpoint: it holds no training state to "
                      "resume (--init starts a new run from its parameters)");
}

// The instruction-set level (version 2 on).
std::string read_isa(detail::Reader& r) {
  const auto length = r.get<std::uint32_t>("instruction-set level");
  if (length > kMaxIsaLength || length > r.end - r.pos)
    throw Error(r.where + ": corrupted checkpoint (instruction-set level of " +
                std::to_string(length) + " bytes)");
  std::string isa = r.bytes.substr(r.pos, length);
  r.pos += length;
  if (!valid_isa(isa))
    throw Error(r.where + ": corrupted checkpoint (the instruction-set level is not a short "
                          "lowercase name)");
  return isa;
}

// The convolution algorithm (version 3, which is written only for direct or im2col; version 4,
// any).
ConvAlgo read_conv(detail::Reader& r, std::uint32_t version) {
  const auto v = r.get<std::uint32_t>("convolution algorithm");
  if (v != std::uint32_t(ConvAlgo::Direct) && v != std::uint32_t(ConvAlgo::Im2col) &&
      !(version >= 4 && v == std::uint32_t(ConvAlgo::Auto)))
    throw Error(r.where + ": corrupted checkpoint (convolution algorithm " + std::to_string(v) +
                ")");
  return static_cast<ConvAlgo>(v);
}

// The options and data fingerprint, the level and algorithm of the file's version, up to the
// history length; the options checked with the flags' rules. Returns the epochs completed.
int read_state(detail::Reader& r, std::uint32_t version, TrainingState& state) {
  TrainOptions& o = state.options;
  const auto epoch = r.get<std::uint32_t>("epoch");
  const auto epochs = r.get<std::uint32_t>("epochs");
  const auto batch = r.get<std::uint32_t>("batch size");
  o.lr = r.get<float>("learning rate");
  o.momentum = r.get<float>("momentum");
  o.weight_decay = r.get<float>("weight decay");
  o.seed = r.get<std::uint64_t>("seed");
  state.data.train = r.get<std::uint32_t>("training sample count");
  state.data.test = r.get<std::uint32_t>("test sample count");
  state.data.labels = r.get<std::uint64_t>("labels hash");
  if (version >= 2) state.isa = read_isa(r);
  if (version >= 3) o.conv = read_conv(r, version);
  if (version >= 4) {
    const auto kind = r.get<std::uint32_t>("learning-rate schedule");
    if (kind > std::uint32_t(LrSchedule::Cosine))
      throw Error(r.where + ": corrupted checkpoint (learning-rate schedule " + std::to_string(kind) + ")");
    o.schedule = static_cast<LrSchedule>(kind);
    const auto every = r.get<std::uint32_t>("schedule step");
    o.step_gamma = r.get<float>("schedule gamma");
    const auto warmup = r.get<std::uint32_t>("warm-up epochs");
    check_option(TrainOption::StepEvery, every, r.where + ": schedule step (epochs)");
    check_option(TrainOption::StepGamma, o.step_gamma, r.where + ": schedule gamma");
    check_option(TrainOption::Warmup, warmup, r.where + ": warm-up epochs");
    o.step_every = static_cast<int>(every);
    o.warmup = static_cast<int>(warmup);
    const auto optimizer = r.get<std::uint32_t>("optimizer");
    if (optimizer > std::uint32_t(Optimizer::AdamW))
      throw Error(r.where + ": corrupted checkpoint (optimizer " + std::to_string(optimizer) + ")");
    o.optimizer = static_cast<Optimizer>(optimizer);
    // Version 5 is written for Adam and AdamW, and only for them; version 6 for any optimizer
    // (serialize_checkpoint).
    if (version < 6 && is_adam(o.optimizer) != (version == 5))
      throw Error(r.where + ": corrupted checkpoint (the " + optimizer_name(o.optimizer) +
                  " optimizer in a version " + std::to_string(version) + " file)");
    try {
      check_optimizer(o, "");
    } catch (const Error& e) {
      throw Error(r.where + ": corrupted checkpoint (" + e.what() + ")");
    }
    // Only a run with one of these writes version 4 (serialize_checkpoint).
    if (version == 4 && o.schedule == LrSchedule::Constant && o.warmup == 0 &&
        o.optimizer == Optimizer::Sgd)
      throw Error(r.where + ": corrupted checkpoint (version 4 without a schedule, warm-up or optimizer)");
  }
  if (version >= 5) {
    o.beta1 = r.get<float>("beta1");
    o.beta2 = r.get<float>("beta2");
    o.eps = r.get<float>("eps");
    check_adam(o.beta1, o.beta2, o.eps, r.where + ": ");
  }
  if (version >= 6) {
    o.val_fraction = r.get<float>("validation fraction");
    check_option(TrainOption::ValFraction, o.val_fraction, r.where + ": validation fraction");
    if (version == 6 && !(o.val_fraction > 0))
      throw Error(r.where + ": corrupted checkpoint (version 6 without a validation split)");
  }
  // The options as the flags take them: a checksum is no authentication, and a value out of
  // their ranges would be trained with or fail late (a huge batch: out of memory).
  check_stored_options(epoch, epochs, batch, o.lr, o.momentum, o.weight_decay, r.where + ": ");
  o.epochs = static_cast<int>(epochs);
  o.batch = static_cast<int>(batch);
  o.first_epoch = static_cast<int>(epoch) + 1;
  return static_cast<int>(epoch);
}

// The metrics of the `epoch` completed epochs, which end the file (from version 6 with the
// validation loss and accuracy).
std::vector<EpochMetrics> read_history(detail::Reader& r, int epoch, bool with_val) {
  const auto history = r.get<std::uint32_t>("history length");
  if (history != std::uint32_t(epoch))
    throw Error(r.where + ": corrupted checkpoint (" + std::to_string(history) +
                " epochs of metrics for " + std::to_string(epoch) + " completed epochs)");
  if (std::uint64_t(history) * (with_val ? 40 : 24) != r.end - r.pos)
    throw Error(r.where + ": corrupted checkpoint (size does not match its " +
                std::to_string(history) + " epochs of metrics)");
  std::vector<EpochMetrics> out;
  for (std::uint32_t e = 0; e < history; ++e) {
    EpochMetrics m;
    m.epoch = static_cast<int>(e) + 1;
    m.loss = r.get<double>("metrics");
    m.train_accuracy = r.get<double>("metrics");
    m.test_accuracy = r.get<double>("metrics");
    if (with_val) {
      m.val_loss = r.get<double>("metrics");
      m.val_accuracy = r.get<double>("metrics");
    }
    m.seconds = std::numeric_limits<double>::quiet_NaN();
    // A mean loss is finite and not negative, an accuracy a fraction: anything else was not
    // written by a run (a resumed run would carry it into --metrics).
    const auto bad = [](double v, double hi) { return !(v >= 0 && v <= hi); };
    if (bad(m.loss, std::numeric_limits<double>::max()) || bad(m.train_accuracy, 1) ||
        bad(m.test_accuracy, 1) ||
        (with_val && (bad(m.val_loss, std::numeric_limits<double>::max()) || bad(m.val_accuracy, 1))))
      throw Error(r.where + ": corrupted checkpoint (the metrics of epoch " +
                  std::to_string(m.epoch) + ": loss " + std::to_string(m.loss) +
                  ", train accuracy " + std::to_string(m.train_accuracy) + ", test accuracy " +
                  std::to_string(m.test_accuracy) +
                  (with_val ? ", validation loss " + std::to_string(m.val_loss) +
                                  ", validation accuracy " + std::to_string(m.val_accuracy)
                            : std::string()) +
                  ")");
    out.push_back(m);
  }
  return out;
}

}  // namespace

Checkpoint deserialize_checkpoint(const std::string& bytes, const std::string& where) {
  if (!is_checkpoint(bytes)) refuse_non_checkpoint(bytes, where);
  Checkpoint c;
  // Magic, version, checksum, model text and the parameters, as a parameter file's.
  c.spec = parameter_file_model(bytes, where);
  c.params = deserialize_parameters(bytes, c.spec, where);

  const std::string text = c.spec.full_text();
  const std::uint64_t count =
      static_cast<std::uint64_t>(c.params.count() + c.spec.running_count());
  // The part after the parameters, up to the checksum (already verified).
  detail::Reader r{bytes, where,
                   sizeof(kCheckpointMagic) + 4 + 4 + text.size() + 8 + count * sizeof(float),
                   bytes.size() - 8, "corrupted checkpoint"};
  c.state.velocity = Parameters::zeros(c.spec);
  r.get_values(c.state.velocity, "velocities");
  if (detail::first_non_finite_layer(c.state.velocity) < c.state.velocity.layers.size())
    throw Error(where + ": the checkpoint holds a non-finite velocity");
  std::uint32_t version;
  std::memcpy(&version, bytes.data() + sizeof(kCheckpointMagic), sizeof version);
  c.state.second = Parameters::zeros(c.spec);
  if (version >= 5) {
    r.get_values(c.state.second, "second moments");
    // Written as zeros under the optimizers that keep none (version 6).
    // Adam's second moments are running means of squares: finite and not negative.
    for (const LayerParams& lp : c.state.second.layers)
      for (const auto* v : {&lp.weights, &lp.bias})
        for (const float x : *v)
          if (!(x >= 0 && std::isfinite(x)))
            throw Error(where + ": the checkpoint holds a negative or non-finite second moment");
  }
  c.state.epoch = read_state(r, version, c.state);
  // Under the optimizers that keep none, the writer's +0 (bit for bit: -0 would not round-trip).
  if (version >= 5 && !is_adam(c.state.options.optimizer))
    for (const LayerParams& lp : c.state.second.layers)
      for (const auto* v : {&lp.weights, &lp.bias})
        for (const float x : *v)
          if (x != 0 || std::signbit(x))
            throw Error(where + ": corrupted checkpoint (second moments under the " +
                        optimizer_name(c.state.options.optimizer) + " optimizer, which keeps none)");
  if (version >= 7) {
    data::LoadOptions& l = c.state.load;
    l.channels = static_cast<int>(std::min<std::uint32_t>(r.get<std::uint32_t>("channels"), 1u << 30));
    l.resize_h = static_cast<int>(std::min<std::uint32_t>(r.get<std::uint32_t>("resize height"), 1u << 30));
    l.resize_w = static_cast<int>(std::min<std::uint32_t>(r.get<std::uint32_t>("resize width"), 1u << 30));
    const auto names = r.get<std::uint32_t>("class name count");
    if (names != 0 && names != std::uint32_t(c.spec.classes()))
      throw Error(where + ": corrupted checkpoint (" + std::to_string(names) +
                  " class names for a model of " + std::to_string(c.spec.classes()) + " classes)");
    for (std::uint32_t i = 0; i < names; ++i) {
      const auto length = r.get<std::uint32_t>("class name length");
      if (length == 0 || length > kMaxClassName || length > r.end - r.pos)
        throw Error(where + ": corrupted checkpoint (class name " + std::to_string(i) + " of " +
                    std::to_string(length) + " bytes)");
      c.state.class_names.push_back(bytes.substr(r.pos, length));
      r.pos += length;
    }
    try {
      check_class_names(c.state.class_names, c.spec, "");
      check_load(l, "");
    } catch (const Error& e) {
      throw Error(where + ": corrupted checkpoint (" + e.what() + ")");
    }
    // Only a run with names or load options writes version 7.
    if (version == 7 && c.state.class_names.empty() && l == data::LoadOptions{})
      throw Error(where + ": corrupted checkpoint (version 7 without class names or load options)");
  }
  c.state.history = read_history(r, c.state.epoch, version >= 6 && c.state.options.val_fraction > 0);
  return c;
}

void save_checkpoint(const std::string& path, const ModelSpec& spec, const Parameters& params,
                     const TrainingState& state) {
  write_file_atomic(path, serialize_checkpoint(spec, params, state));
}

Checkpoint load_checkpoint(const std::string& path) {
  InputFile in(path);
  return deserialize_checkpoint(read_model_file(in), in.name());
}

LoadedModel load_model(const std::string& path) {
  InputFile in(path);
  const std::string bytes = read_model_file(in);
  LoadedModel l;
  if (is_checkpoint(bytes)) {
    Checkpoint c = deserialize_checkpoint(bytes, in.name());
    l.spec = std::move(c.spec);
    l.params = std::move(c.params);
    l.state = std::move(c.state);
  } else {
    l.spec = parameter_file_model(bytes, in.name());
    l.params = deserialize_parameters(bytes, l.spec, in.name());
  }
  return l;
}

}  // namespace scratchcnn
