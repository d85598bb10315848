#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/network.hpp"

namespace scratchcnn {

// How train() picks the thread count of the fast path's steps. Results never depend on it.
//   Adaptive: each step runs on the count, at most max_threads(), that measured step times show to
//             be fastest now; measured again when step times change (another process takes or
//             frees a core) and every so often, at most ~2% of the run's time (docs/architecture.md,
//             "Threads per step").
//   Fixed:    every step on max_threads() (as step_threads says).
// train() sets OpenMP's thread count (omp_set_num_threads) between steps and restores the caller's
// on return. The reference path runs on one thread either way.
enum class ThreadPolicy { Adaptive, Fixed };
const char* thread_policy_name(ThreadPolicy p);  // "adaptive", "fixed"

// How the learning rate changes from epoch to epoch (lr_at): Constant keeps TrainOptions::lr,
// Step multiplies it by step_gamma every step_every epochs, Cosine anneals it to 0 over the epochs
// after the warm-up (PyTorch's StepLR and CosineAnnealingLR with eta_min 0, stepped per epoch).
enum class LrSchedule { Constant, Step, Cosine };
// The update rule (Optimizer, sgd.hpp): plain or classical-momentum SGD, SGD with Nesterov's
// momentum (which needs momentum > 0), Adam or AdamW (which take no momentum: their betas).
const char* optimizer_name(Optimizer o);  // "sgd", "nesterov", "adam", "adamw"
// The optimizer called `name`; throws Error naming `flag` and the known names.
Optimizer parse_optimizer(const std::string& name, const std::string& flag);

struct TrainOptions {
  int epochs = 10;  // the run's last epoch (counted from the run's start, not from first_epoch)
  int batch = 128;
  float lr = 0.1f;
  std::uint64_t seed = 1;
  float momentum = 0;      // Sgd (network.hpp); 0 = plain SGD
  float weight_decay = 0;  // Sgd (network.hpp); 0 = none
  Optimizer optimizer = Optimizer::Sgd;  // Nesterov needs momentum > 0 (validate)
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // Adam, AdamW (PyTorch's defaults)
  LrSchedule schedule = LrSchedule::Constant;  // lr_at
  int step_every = 1;      // LrSchedule::Step: epochs per step
  float step_gamma = 1;    // LrSchedule::Step: the factor of each step
  int warmup = 0;          // lr_at: epochs of linear warm-up before the schedule
  // The first epoch this call trains: 1, or 1 + the epochs a resumed checkpoint already holds.
  // Epoch e always visits epoch_order(n, seed, e), so a run resumed after epoch k trains exactly
  // what an uninterrupted run trains in epochs k+1..epochs.
  int first_epoch = 1;
  // Divergence guard. > 0: a batch whose mean loss exceeds it stops training with an Error
  // naming the epoch and batch (a diverging run: a learning rate too large can drive the loss far
  // above chance, ln(classes), while it stays finite). 0: only a NaN or infinite loss stops it.
  // Not saved in checkpoints: it changes no result of a run that finishes.
  double max_loss = 0;
  // Memory budget in bytes (memory.hpp). > 0: before the first step, train() estimates the
  // network's training memory at `batch` on max_threads() threads plus the data sets and its batch
  // buffer, and throws Error (estimate and limit) when that exceeds it. 0: no check. Not saved in
  // checkpoints.
  std::uint64_t max_memory = 0;
  // The fast path's convolution algorithm (NetworkOptions, network.hpp). train() does not build
  // the network: build it with NetworkOptions{opt.conv} (train() throws Error when the network's
  // options() differ); train() uses it for the memory estimate and checkpoints record it
  // (checkpoint.hpp), since direct and im2col round differently. The reference path ignores it.
  ConvAlgo conv = ConvAlgo::Auto;
  // See ThreadPolicy. Not saved in checkpoints: it changes no result.
  ThreadPolicy thread_policy = ThreadPolicy::Adaptive;
  // The share of the training set held out for validation (validation_split); 0 = none. train()
  // does not split: the caller passes the two parts (Validation). Checkpoints record it, so a
  // resumed run holds out the same samples.
  float val_fraction = 0;
  // Early stopping: > 0 stops training after the first epoch at which `early_stop` epochs have
  // passed without a validation loss below the best so far (early_stop_due); needs a validation
  // set. 0: never. Not saved in checkpoints: it changes no step, only how many are taken.
  int early_stop = 0;
};

// The range of each training option with one, written once: train() (validate), the
// command-line flags and the checkpoint reader all check values with check_option, so a
// checkpoint cannot carry a value that a flag would refuse. seed takes any 64-bit value.
enum class TrainOption {
  Epochs, Batch, Lr, Momentum, WeightDecay, MaxLoss, FirstEpoch, Warmup, StepEvery, StepGamma,
  Beta1, Beta2, Eps, ValFraction, EarlyStop
};
struct OptionRange {
  const char* name;  // in messages of the library and of the checkpoint reader: "batch size"
  const char* flag;  // the command-line flag: "--batch" (empty when there is none)
  double lo, hi;     // inclusive
  bool integer;      // a whole number (an int in TrainOptions)
};
//   epochs       0..1000000      --epochs        batch        1..1048576 (2^20)  --batch
//   lr           0..3e38         --lr            momentum     0..1               --momentum
//   weight_decay 0..1            --weight-decay  max_loss     0..1e30            --max-loss
//   first_epoch  1..1000001
//   warmup       0..1000000      --warmup        step_every   1..1000000  --lr-schedule step:N:G
//   step_gamma   0..1            --lr-schedule step:N:G
//   beta1, beta2 0..0.9999999    --betas B1,B2   eps          1e-30..1           --eps
//   val_fraction 0..0.9          --val-fraction  early_stop   0..1000000         --early-stop
const OptionRange& option_range(TrainOption option);
// Throws Error "<label> <value> is outside <lo>..<hi>" (or "... is not a finite number") unless
// `value` is a finite number in the option's range (and whole, for an integer option). `label`
// says where the value came from: "--batch:", "run.ckpt: batch size".
void check_option(TrainOption option, double value, const std::string& label);
// check_option for every option of `opt`, each labelled "training options: <name>".
void validate(const TrainOptions& opt);
// Throws Error starting with `label` unless opt.optimizer is known and fits the momentum
// (Nesterov needs one above 0; Adam and AdamW take none).
void check_optimizer(const TrainOptions& opt, const std::string& label);

// The update rule of batch `step` (1-based, counted over the whole run: (epoch - 1) * batches per
// epoch + batch) of epoch `epoch`: lr_at(opt, epoch), opt's optimizer settings and the dropout
// seed derive_seed(opt.seed, kSeedDropout).
Sgd step_rule(const TrainOptions& opt, int epoch, std::int64_t step);

// The learning rate of epoch `epoch` (1-based), computed in double and rounded to float once, so
// that it depends only on the options and the epoch (a resumed run gets the same values):
//   warm-up, epochs e = 1..warmup:  lr * e / (warmup + 1)
//   then, with t = e - warmup - 1 and T = max(1, epochs - warmup):
//   Constant: lr;  Step: lr * step_gamma^floor(t / step_every);  Cosine: lr * (1 + cos(pi t / T)) / 2
float lr_at(const TrainOptions& opt, int epoch);
// "constant", "step:EVERY:GAMMA" or "cosine": the form --lr-schedule takes and the header prints.
std::string lr_schedule_text(const TrainOptions& opt);
// Sets opt's schedule from that form; throws Error naming `flag` and what is wrong.
void parse_lr_schedule(const std::string& text, TrainOptions& opt, const std::string& flag);
// Adam's betas as --betas takes them, "B1,B2" (e.g. "0.9,0.999"): betas_text prints them,
// parse_betas sets opt.beta1 and opt.beta2 (each checked by check_option) or throws Error naming
// `flag`.
std::string betas_text(const TrainOptions& opt);
void parse_betas(const std::string& text, TrainOptions& opt, const std::string& flag);

struct EpochMetrics {
  int epoch = 0;              // 1-based
  double loss = 0;            // mean training loss over every sample of the epoch
  double train_accuracy = 0;  // fraction of training samples classified right during the epoch
                              // (each judged by the forward pass of its own training step)
  double test_accuracy = 0;   // fraction of the test set right after the epoch
  // Mean softmax cross-entropy (in double, from the float logits) and fraction right on the
  // validation set after the epoch; NaN without one.
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  double val_accuracy = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;         // wall time of the epoch's training steps (evaluation excluded)
  double threads = 0;         // the mean thread count of the epoch's steps (ThreadPolicy)
};

// Called after each training step: epoch (1-based), batch (1-based), batches per epoch, samples
// done this epoch, seconds since the epoch started.
using StepCallback = std::function<void(int epoch, int batch, int batches, int done, double secs)>;
using EpochCallback = std::function<void(const EpochMetrics&)>;

// The order in which an epoch visits the training samples: a Fisher-Yates shuffle from
// Rng(derive_seed(derive_seed(seed, kSeedShuffle), epoch)). It depends only on (n, seed, epoch),
// so two paths trained with the same seed see the same batches.
std::vector<int> epoch_order(int n, std::uint64_t seed, int epoch);

// Throws Error unless the data's sample shape and classes fit the model.
void check_data_fits(const ModelSpec& spec, const data::Dataset& d);

// The predicted class (first largest logit) of each sample of `images` (whole samples, as
// Network::predict takes them), predicted in batches of `batch`; with `logits`, also every logit
// (samples x classes). Throws Error as Network::predict does.
std::vector<int> predict_classes(Network& net, std::span<const float> images, int batch = 256,
                                 std::vector<float>* logits = nullptr);

// Fraction of `d` whose largest logit (first on ties) is the label, in batches of `batch`.
double evaluate(Network& net, const data::Dataset& d, int batch = 256);

// Accuracy as evaluate() gives it, and the mean softmax cross-entropy over `d`: per sample
// log(sum exp(logits)) - logit[label] in double from the float logits, summed in sample order.
struct Evaluation {
  double accuracy = 0;
  double loss = 0;
};
Evaluation evaluate_with_loss(Network& net, const data::Dataset& d, int batch = 256);

// The training set split into what is trained on (.train) and the validation set (.test):
// stratified_split with `fraction` held out, seeded from derive_seed(seed, kSeedValidation), so
// it depends only on the data, the fraction and the seed. Throws Error when either part would be
// empty or fraction is outside (0, 0.9].
data::Split validation_split(const data::Dataset& train_set, double fraction, std::uint64_t seed);

// The epoch (1-based) with the lowest validation loss in `history`, the first on ties; 0 when no
// epoch has one.
int best_epoch(const std::vector<EpochMetrics>& history);
// True when `patience` > 0 and the last epoch of `history` is `patience` or more epochs after
// best_epoch (early stopping: no validation loss below the best for `patience` epochs).
bool early_stop_due(const std::vector<EpochMetrics>& history, int patience);

// What train() validates on: `set` (null: nothing) after every epoch, and the epochs a resumed run
// already holds (`prior`, whose validation losses early stopping continues from).
struct Validation {
  const data::Dataset* set = nullptr;
  std::vector<EpochMetrics> prior;
};

// Minibatch SGD (Network::sgd_step with lr, momentum, weight_decay): every epoch from first_epoch
// to epochs reshuffles (epoch_order), walks the training set in batches of `batch` (the last,
// partial batch is used, not dropped), then measures test accuracy. Returns the metrics of the
// epochs it trained. Throws Error (validate) when an option is out of range.
// A NaN or infinite loss stops training with an Error naming the epoch and batch; the network keeps
// the parameters from before that step. So does a loss above opt.max_loss (when > 0), after
// that step: the network then holds the step's parameters. Callers that write files per epoch
// (checkpoints) are never called for the epoch that stopped.
// With a validation set, each epoch's metrics also hold its validation loss and accuracy, and
// with opt.early_stop training ends after the epoch at which early_stop_due(prior + epochs so far)
// holds (before the first epoch when the prior epochs already say so).
std::vector<EpochMetrics> train(Network& net, const data::Dataset& train_set,
                                const data::Dataset& test_set, const TrainOptions& opt,
                                const StepCallback& on_step = {},
                                const EpochCallback& on_epoch = {},
                                const Validation& validation = {});

}  // namespace scratchcnn
