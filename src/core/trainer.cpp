#include "scratchcnn/trainer.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>

#include "core/text.hpp"
#include "core/thread_tuner.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/rng.hpp"

namespace scratchcnn {

namespace {

// One entry per TrainOption, in its order. The flags' ranges: the CLI parses with these.
constexpr OptionRange kRanges[] = {
    {"epochs", "--epochs", 0, 1000000, true},
    {"batch size", "--batch", 1, 1 << 20, true},
    {"learning rate", "--lr", 0, 3.0e38, false},
    {"momentum", "--momentum", 0, 1, false},
    {"weight decay", "--weight-decay", 0, 1, false},
    {"max_loss", "--max-loss", 0, 1e30, false},
    {"first epoch", "", 1, 1000001, true},
    {"warm-up epochs", "--warmup", 0, 1000000, true},
    {"schedule step (epochs)", "--lr-schedule", 1, 1000000, true},
    {"schedule gamma", "--lr-schedule", 0, 1, false},
    {"beta1", "--betas", 0, 0.9999999, false},
    {"beta2", "--betas", 0, 0.9999999, false},
    {"eps", "--eps", 1e-30, 1, false},
    {"validation fraction", "--val-fraction", 0, 0.9, false},
    {"early-stop patience", "--early-stop", 0, 1000000, true},
};

std::string number(double v, bool integer) {
  if (std::isnan(v)) return "nan";  // whatever its sign bit
  char b[64];
  if (integer && std::isfinite(v) && std::abs(v) < 1e18)
    std::snprintf(b, sizeof b, "%lld", static_cast<long long>(v));
  else
    std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

}  // namespace

const OptionRange& option_range(TrainOption option) {
  return kRanges[static_cast<std::size_t>(option)];
}

void check_option(TrainOption option, double value, const std::string& label) {
  const OptionRange& r = option_range(option);
  const std::string text = number(value, r.integer);
  if (!std::isfinite(value)) throw Error(label + " " + text + " is not a finite number");
  if (r.integer && value != std::floor(value))
    throw Error(label + " " + number(value, false) + " is not a whole number");
  // Real options are held as floats (max_loss aside, for which it changes nothing): compared in
  // float, so that --lr 3e38, which rounds up to 3.0000000055e38f, stays inside 0..3e38 when a
  // checkpoint brings it back.
  const double v = r.integer ? value : double(float(value));
  const double hi = r.integer ? r.hi : double(float(r.hi));
  if (v < r.lo || v > hi)
    throw Error(label + " " + text + " is outside " + number(r.lo, r.integer) + ".." +
                number(r.hi, r.integer));
}

void validate(const TrainOptions& opt) {
  const auto check = [](TrainOption o, double v) {
    check_option(o, v, std::string("training options: ") + option_range(o).name);
  };
  check(TrainOption::Epochs, opt.epochs);
  check(TrainOption::Batch, opt.batch);
  check(TrainOption::Lr, opt.lr);
  check(TrainOption::Momentum, opt.momentum);
  check(TrainOption::WeightDecay, opt.weight_decay);
  check(TrainOption::MaxLoss, opt.max_loss);
  check(TrainOption::FirstEpoch, opt.first_epoch);
  check(TrainOption::Warmup, opt.warmup);
  check(TrainOption::StepEvery, opt.step_every);
  check(TrainOption::StepGamma, opt.step_gamma);
  check(TrainOption::Beta1, opt.beta1);
  check(TrainOption::Beta2, opt.beta2);
  check(TrainOption::Eps, opt.eps);
  check(TrainOption::ValFraction, opt.val_fraction);
  check(TrainOption::EarlyStop, opt.early_stop);
  if (opt.schedule != LrSchedule::Constant && opt.schedule != LrSchedule::Step &&
      opt.schedule != LrSchedule::Cosine)
    throw Error("training options: learning-rate schedule " + std::to_string(int(opt.schedule)) +
                " is not constant, step or cosine");
  check_conv_algo(opt.conv, "training options: ");
  check_optimizer(opt, "training options: ");
  if (opt.thread_policy != ThreadPolicy::Adaptive && opt.thread_policy != ThreadPolicy::Fixed)
    throw Error("training options: thread policy " + std::to_string(int(opt.thread_policy)) +
                " is not adaptive or fixed");
}

void check_optimizer(const TrainOptions& opt, const std::string& label) {
  if (opt.optimizer != Optimizer::Sgd && opt.optimizer != Optimizer::Nesterov && !is_adam(opt.optimizer))
    throw Error(label + "optimizer " + std::to_string(int(opt.optimizer)) +
                " is not sgd, nesterov, adam or adamw");
  if (opt.optimizer == Optimizer::Nesterov && !(opt.momentum > 0))
    throw Error(label + "the nesterov optimizer needs a momentum above 0 (--momentum)");
  if (is_adam(opt.optimizer) && opt.momentum != 0)
    throw Error(label + "the " + optimizer_name(opt.optimizer) +
                " optimizer takes no momentum (its moments decay by --betas)");
}

const char* optimizer_name(Optimizer o) {
  switch (o) {
    case Optimizer::Sgd: return "sgd";
    case Optimizer::Nesterov: return "nesterov";
    case Optimizer::Adam: return "adam";
    case Optimizer::AdamW: return "adamw";
  }
  return "?";
}

Optimizer parse_optimizer(const std::string& name, const std::string& flag) {
  for (Optimizer o : {Optimizer::Sgd, Optimizer::Nesterov, Optimizer::Adam, Optimizer::AdamW})
    if (name == optimizer_name(o)) return o;
  throw Error(flag + " " + excerpt(name) + ": unknown optimizer (known: sgd, nesterov, adam, adamw)");
}

Sgd step_rule(const TrainOptions& opt, int epoch, std::int64_t step) {
  Sgd s;
  s.lr = lr_at(opt, epoch);
  s.momentum = opt.momentum;
  s.weight_decay = opt.weight_decay;
  s.optimizer = opt.optimizer;
  s.beta1 = opt.beta1;
  s.beta2 = opt.beta2;
  s.eps = opt.eps;
  s.step = step;
  s.seed = derive_seed(opt.seed, kSeedDropout);
  return s;
}

float lr_at(const TrainOptions& opt, int epoch) {
  const double lr = opt.lr;
  if (epoch <= opt.warmup) return static_cast<float>(lr * epoch / (opt.warmup + 1.0));
  const int t = epoch - opt.warmup - 1;
  switch (opt.schedule) {
    case LrSchedule::Constant: return opt.lr;
    case LrSchedule::Step: return static_cast<float>(lr * std::pow(double(opt.step_gamma), t / opt.step_every));
    case LrSchedule::Cosine: {
      const double T = std::max(1, opt.epochs - opt.warmup);
      return static_cast<float>(lr * 0.5 * (1.0 + std::cos(3.14159265358979323846 * t / T)));
    }
  }
  return opt.lr;
}

std::string lr_schedule_text(const TrainOptions& opt) {
  switch (opt.schedule) {
    case LrSchedule::Constant: return "constant";
    case LrSchedule::Cosine: return "cosine";
    case LrSchedule::Step: {
      char g[32];
      std::snprintf(g, sizeof g, "%.9g", double(opt.step_gamma));
      return "step:" + std::to_string(opt.step_every) + ":" + g;
    }
  }
  return "?";
}

void parse_lr_schedule(const std::string& text, TrainOptions& opt, const std::string& flag) {
  if (text == "constant" || text == "cosine") {
    opt.schedule = text == "constant" ? LrSchedule::Constant : LrSchedule::Cosine;
    return;
  }
  const auto bad = [&](const std::string& why) {
    return Error(flag + " " + excerpt(text) + ": " + why +
                 " (expects constant, step:EVERY:GAMMA such as step:10:0.5, or cosine)");
  };
  if (text.rfind("step:", 0) != 0) throw bad("unknown schedule");
  const std::string rest = text.substr(5);
  const auto colon = rest.find(':');
  if (colon == std::string::npos) throw bad("missing :GAMMA");
  const std::string every = rest.substr(0, colon), gamma = rest.substr(colon + 1);
  const std::optional<double> e = parse_finite(every), g = parse_finite(gamma);
  if (!e) throw bad("EVERY " + excerpt(every) + " is not a number");
  if (!g) throw bad("GAMMA " + excerpt(gamma) + " is not a number");
  check_option(TrainOption::StepEvery, *e, flag + " step EVERY");
  check_option(TrainOption::StepGamma, *g, flag + " step GAMMA");
  opt.schedule = LrSchedule::Step;
  opt.step_every = static_cast<int>(*e);
  opt.step_gamma = static_cast<float>(*g);
}

void parse_betas(const std::string& text, TrainOptions& opt, const std::string& flag) {
  const auto comma = text.find(',');
  if (comma == std::string::npos)
    throw Error(flag + " " + excerpt(text) + ": expects B1,B2 such as 0.9,0.999");
  double b[2];
  const std::string part[2] = {text.substr(0, comma), text.substr(comma + 1)};
  for (int i = 0; i < 2; ++i) {
    const std::optional<double> v = parse_finite(part[i]);
    if (v) b[i] = *v;
    else
      throw Error(flag + " " + excerpt(text) + ": B" + std::to_string(i + 1) + " " +
                  excerpt(part[i]) + " is not a number (expects B1,B2 such as 0.9,0.999)");
  }
  check_option(TrainOption::Beta1, b[0], flag + " B1");
  check_option(TrainOption::Beta2, b[1], flag + " B2");
  opt.beta1 = static_cast<float>(b[0]);
  opt.beta2 = static_cast<float>(b[1]);
}

std::string betas_text(const TrainOptions& opt) {
  return shortest_float(opt.beta1) + "," + shortest_float(opt.beta2);
}

const char* thread_policy_name(ThreadPolicy p) {
  return p == ThreadPolicy::Adaptive ? "adaptive" : p == ThreadPolicy::Fixed ? "fixed" : "?";
}

std::vector<int> epoch_order(int n, std::uint64_t seed, int epoch) {
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) order[i] = i;
  Rng rng(derive_seed(derive_seed(seed, kSeedShuffle), static_cast<std::uint64_t>(epoch)));
  for (int i = n - 1; i > 0; --i) {
    const int j = static_cast<int>(rng.below(static_cast<std::uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

void check_data_fits(const ModelSpec& spec, const data::Dataset& d) {
  const Shape s{d.c, d.h, d.w, false};
  if (!(s == spec.input))
    throw Error("data " + d.source + " holds " + s.str() + " images, model '" + spec.text() +
                "' takes " + spec.input.str());
  if (spec.classes() != d.classes)
    throw Error("model '" + spec.text() + "' outputs " + std::to_string(spec.classes()) +
                " classes, data " + d.source + " has " + std::to_string(d.classes));
  if (d.size() == 0) throw Error("data " + d.source + " holds no samples");
}

std::vector<int> predict_classes(Network& net, std::span<const float> images, int batch,
                                 std::vector<float>* logits_out) {
  const int classes = net.spec().classes();
  const std::int64_t size = net.spec().input.size();
  if (batch < 1) throw Error("predict: batch size " + std::to_string(batch) + " is below 1");
  if (images.size() % static_cast<std::size_t>(size) != 0 ||
      images.size() / static_cast<std::size_t>(size) > std::size_t(std::numeric_limits<int>::max()))
    throw Error("predict: " + std::to_string(images.size()) + " input values are not a whole "
                "number of " + net.spec().input.str() + " samples (" + std::to_string(size) +
                " values each)");
  const int n = static_cast<int>(images.size() / static_cast<std::size_t>(size));
  std::vector<float> logits(std::size_t(std::min(batch, std::max(n, 1))) * classes);
  std::vector<int> pred(static_cast<std::size_t>(std::max(n, 0)));
  if (logits_out) logits_out->assign(std::size_t(std::max(n, 0)) * classes, 0.0f);
  for (int start = 0; start < n; start += batch) {
    const int m = std::min(batch, n - start);
    net.predict(images.subspan(std::size_t(start) * std::size_t(size), std::size_t(m) * std::size_t(size)),
                std::span<float>(logits.data(), std::size_t(m) * classes));
    for (int s = 0; s < m; ++s) {
      const float* z = logits.data() + std::size_t(s) * classes;
      pred[std::size_t(start + s)] = static_cast<int>(std::max_element(z, z + classes) - z);
    }
    if (logits_out)
      std::copy_n(logits.data(), std::size_t(m) * classes,
                  logits_out->data() + std::size_t(start) * classes);
  }
  return pred;
}

double evaluate(Network& net, const data::Dataset& d, int batch) {
  if (d.size() == 0) return 0;
  const std::vector<int> pred = predict_classes(net, d.images, batch);
  int correct = 0;
  for (int i = 0; i < d.size(); ++i) correct += pred[std::size_t(i)] == d.labels[std::size_t(i)];
  return double(correct) / d.size();
}

Evaluation evaluate_with_loss(Network& net, const data::Dataset& d, int batch) {
  Evaluation e;
  if (d.size() == 0) return e;
  std::vector<float> logits;
  const std::vector<int> pred = predict_classes(net, d.images, batch, &logits);
  const std::size_t k = std::size_t(net.spec().classes());
  int correct = 0;
  double loss = 0;
  for (int i = 0; i < d.size(); ++i) {
    const int label = d.labels[std::size_t(i)];
    correct += pred[std::size_t(i)] == label;
    const float* z = logits.data() + std::size_t(i) * k;
    double top = z[0];
    for (std::size_t j = 1; j < k; ++j) top = std::max(top, double(z[j]));
    double sum = 0;
    for (std::size_t j = 0; j < k; ++j) sum += std::exp(double(z[j]) - top);
    loss += top + std::log(sum) - double(z[std::size_t(label)]);
  }
  e.accuracy = double(correct) / d.size();
  e.loss = loss / d.size();
  return e;
}

data::Split validation_split(const data::Dataset& train_set, double fraction, std::uint64_t seed) {
  check_option(TrainOption::ValFraction, fraction, "validation split: fraction");
  if (!(fraction > 0)) throw Error("validation split: the fraction must be above 0");
  data::Split s = data::stratified_split(train_set, fraction, derive_seed(seed, kSeedValidation));
  const auto count = [](int n) { return std::to_string(n) + " sample" + (n == 1 ? "" : "s"); };
  if (s.test.size() == 0 || s.train.size() == 0)
    throw Error("validation split: " + shortest_float(float(fraction)) + " of " + train_set.source + " (" +
                count(train_set.size()) + ") leaves " + count(s.train.size()) +
                " to train on and " + count(s.test.size()) +
                " to validate on; both need at least one");
  s.train.source = train_set.source + " (training part)";
  s.test.source = train_set.source + " (validation part)";
  s.note.clear();
  return s;
}

int best_epoch(const std::vector<EpochMetrics>& history) {
  int best = 0;
  double low = 0;
  for (const EpochMetrics& m : history)
    if (!std::isnan(m.val_loss) && (best == 0 || m.val_loss < low)) {
      best = m.epoch;
      low = m.val_loss;
    }
  return best;
}

bool early_stop_due(const std::vector<EpochMetrics>& history, int patience) {
  if (patience <= 0 || history.empty()) return false;
  const int best = best_epoch(history);
  return best > 0 && history.back().epoch - best >= patience;
}

namespace {

// The memory train() needs: the network at the largest batch it sees (no more than the training
// set), the data sets and the batch buffer.
MemoryEstimate training_estimate(const Network& net, const data::Dataset& train_set,
                                 const data::Dataset& test_set, const TrainOptions& opt) {
  MemoryEstimate e = estimate_memory(parse_path(net.name()), net.spec(),
                                     std::min(opt.batch, std::max(train_set.size(), 1)), 0,
                                     MemoryUse::Training, NetworkOptions{opt.conv});
  e.data = dataset_bytes(train_set) + dataset_bytes(test_set) +
           std::uint64_t(std::min(opt.batch, train_set.size())) *
               (std::uint64_t(train_set.sample_size()) * 4 + 4);
  return e;
}

// The estimate with the validation set's bytes, which the caller holds too.
MemoryEstimate with_validation(MemoryEstimate e, const Validation& v) {
  if (v.set) e.data += dataset_bytes(*v.set);
  return e;
}

bool known_path(const Network& net) { return net.name() == "fast" || net.name() == "reference"; }

// One epoch's walk over the training set: its batches, gathered into one buffer.
struct EpochRun {
  Network& net;
  const data::Dataset& train_set;
  const data::Dataset& test_set;
  const TrainOptions& opt;
  const StepCallback& on_step;
  std::vector<float> images;
  std::vector<int> labels;
  ThreadTuner* tuner;  // null: every step on `fixed` threads (ThreadPolicy::Fixed, or nothing to choose)
  int fixed;           // step_threads at the caller's thread count

  int batches() const { return (train_set.size() + opt.batch - 1) / opt.batch; }
  StepResult step(int epoch, int b, int m);
  EpochMetrics run(int epoch);
};

// One training step on the batch gathered in the buffers, every failure an Error naming the
// epoch and batch; the divergence guard after it.
StepResult EpochRun::step(int epoch, int b, int m) {
  const auto where = [&] {
    return "training stopped at epoch " + std::to_string(epoch) + ", batch " +
           std::to_string(b + 1) + " of " + std::to_string(batches()) + ": ";
  };
  StepResult r;
  try {
    const std::int64_t step = std::int64_t(epoch - 1) * batches() + b + 1;
    r = net.sgd_step(Batch{images.data(), labels.data(), m}, step_rule(opt, epoch, step));
  } catch (const Error& e) {
    throw Error(where() + e.what());
  } catch (const std::bad_alloc&) {
    throw Error(where() + "out of memory in a training step of batch " + std::to_string(opt.batch) +
                (known_path(net) ? " (estimated need: " +
                                       training_estimate(net, train_set, test_set, opt).str() + ")"
                                 : std::string()) +
                "; use a smaller batch or model");
  }
  if (opt.max_loss > 0 && r.loss > opt.max_loss) {
    char b1[64];
    std::snprintf(b1, sizeof b1, "%.6g exceeds the divergence limit %.6g", r.loss, opt.max_loss);
    throw Error(where() + "the batch's mean loss " + b1 +
                " (the run is diverging: lower the learning rate)");
  }
  return r;
}

EpochMetrics EpochRun::run(int epoch) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const int n = train_set.size();
  const int sample = train_set.sample_size();
  const std::vector<int> order = epoch_order(n, opt.seed, epoch);
  double loss_sum = 0, thread_sum = 0;
  long correct = 0;
  for (int b = 0; b < batches(); ++b) {
    const int start = b * opt.batch;
    const int m = std::min(opt.batch, n - start);
    for (int s = 0; s < m; ++s) {
      const int idx = order[start + s];
      std::copy_n(train_set.image(idx), sample, images.data() + std::size_t(s) * sample);
      labels[s] = train_set.labels[idx];
    }
    const int threads = tuner ? tuner->threads() : fixed;
    if (tuner) omp_set_num_threads(threads);
    const auto s0 = Clock::now();
    const StepResult r = step(epoch, b, m);
    // Only steps of the usual size tell the tuner about a thread count (the last may be smaller).
    if (tuner && m == int(labels.size()))
      tuner->record(std::chrono::duration<double>(Clock::now() - s0).count());
    thread_sum += threads;
    loss_sum += r.loss * m;
    correct += r.correct;
    if (on_step)
      on_step(epoch, b + 1, batches(), start + m,
              std::chrono::duration<double>(Clock::now() - t0).count());
  }
  EpochMetrics em;
  em.epoch = epoch;
  em.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  em.loss = loss_sum / n;
  em.train_accuracy = double(correct) / n;
  em.threads = thread_sum / batches();
  em.test_accuracy = evaluate(net, test_set);
  return em;
}

}  // namespace

std::vector<EpochMetrics> train(Network& net, const data::Dataset& train_set,
                                const data::Dataset& test_set, const TrainOptions& opt,
                                const StepCallback& on_step, const EpochCallback& on_epoch,
                                const Validation& validation) {
  check_data_fits(net.spec(), train_set);
  check_data_fits(net.spec(), test_set);
  if (validation.set) check_data_fits(net.spec(), *validation.set);
  validate(opt);
  // Batch norm on one value per channel cannot train on a batch of 1 sample (check_batch refuses
  // it at that step): refused here, before the first epoch, when the last batch would be one.
  if (train_set.size() > opt.batch && train_set.size() % opt.batch == 1)
    for (std::size_t l = 0; l < net.spec().layers.size(); ++l)
      if (net.spec().layers[l].kind == LayerKind::BatchNorm &&
          net.spec().info[l].in.h * net.spec().info[l].in.w == 1)
        throw Error("layer " + std::to_string(l + 1) + " 'batchnorm' sees 1 value per channel, and the " +
                    std::to_string(train_set.size()) + " training samples in batches of " +
                    std::to_string(opt.batch) + " leave a last batch of 1 sample, which it cannot "
                    "normalise: choose another batch size");
  if (opt.early_stop > 0 && !validation.set)
    throw Error("training options: early stopping (early_stop " + std::to_string(opt.early_stop) +
                ") needs a validation set");
  // The checkpoint records opt.conv: it must be what the network computes with.
  if (net.options().conv != opt.conv)
    throw Error(std::string("training options: conv is ") + conv_algo_name(opt.conv) +
                " but the network was built with " + conv_algo_name(net.options().conv) +
                " (make_network's NetworkOptions); they must agree, since checkpoints record it");
  if (opt.max_memory > 0 && known_path(net))
    check_memory(with_validation(training_estimate(net, train_set, test_set, opt), validation), opt.max_memory,
                 "training on the " + net.name() + " path with batch " + std::to_string(opt.batch),
                 "TrainOptions::max_memory");
  // A batch never holds more than the training set (a batch above n is one full batch).
  const int rows = std::min(opt.batch, train_set.size());
  // Adaptive threads on the fast path when a step could use more than one (step_threads); the
  // caller's OpenMP thread count is the most it may choose, and comes back on return.
  const int most = net.name() == "fast" ? step_threads(PathKind::Fast, net.spec(), rows, max_threads()) : 1;
  ThreadTuner tuner(opt.thread_policy == ThreadPolicy::Adaptive ? most : 1, free_cores_now);
  struct Restore {
    int threads = omp_get_max_threads();
    ~Restore() { omp_set_num_threads(threads); }
  } restore;
  EpochRun run{net, train_set, test_set, opt, on_step,
               std::vector<float>(std::size_t(rows) * train_set.sample_size()),
               std::vector<int>(static_cast<std::size_t>(rows)), tuner.most() > 1 ? &tuner : nullptr, most};
  std::vector<EpochMetrics> all = validation.prior, history;
  for (int epoch = opt.first_epoch; epoch <= opt.epochs; ++epoch) {
    if (early_stop_due(all, opt.early_stop)) break;
    EpochMetrics m = run.run(epoch);
    if (validation.set) {
      const Evaluation v = evaluate_with_loss(net, *validation.set);
      m.val_loss = v.loss;
      m.val_accuracy = v.accuracy;
    }
    history.push_back(m);
    all.push_back(m);
    if (on_epoch) on_epoch(m);
  }
  return history;
}

}  // namespace scratchcnn
