#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/process_group.hpp"
#include "scratchcnn/sgd.hpp"

namespace scratchcnn {

// A minibatch: n samples, each spec.input.size() floats (C x H x W, row-major), and n labels in
// [0, classes). Not owned.
struct Batch {
  const float* images = nullptr;
  const int* labels = nullptr;
  int n = 0;
};

struct StepResult {
  double loss = 0;  // mean softmax cross-entropy over the batch
  int correct = 0;  // samples whose largest logit (first one on ties) is the label
};

enum class PathKind { Reference, Fast };
PathKind parse_path(const std::string& text);  // "reference" | "fast"; throws Error otherwise
const char* path_name(PathKind);

// How the fast path computes a convolution. Direct: register-blocked correlation vectorised across
// the samples of a chunk (efficient with one or two channels). Im2col: im2col over tiles of output
// rows, then a GEMM. Auto: the first implementation of an ordered list that accepts the layer's
// shape (docs/architecture.md). The two round differently, so a run's bits depend on the choice;
// the reference path has one algorithm and ignores it.
enum class ConvAlgo { Auto, Direct, Im2col };
const char* conv_algo_name(ConvAlgo a);  // "auto", "direct", "im2col"
// "auto" | "direct" | "im2col"; throws Error otherwise.
ConvAlgo parse_conv_algo(const std::string& text);
// Throws Error "<label>convolution algorithm N is not auto, direct or im2col" for a value outside
// the enum (a cast integer): what the trainer and the checkpoint writer accept.
void check_conv_algo(ConvAlgo a, const std::string& label);

struct NetworkOptions {
  ConvAlgo conv = ConvAlgo::Auto;  // every convolution of the model (fast path)
  // Data-parallel training (process_group.hpp): every process of the group builds the network
  // from the same spec and parameters and calls each training step with the same whole batch;
  // each computes its share of the chunks, and all end the step with the same bits, the bits of a
  // single process. Null (or a group of one): this process alone. The fast path only: the
  // reference path throws Error for a group of more than one. Inference is not distributed.
  std::shared_ptr<ProcessGroup> group = nullptr;
};

// The only thing the trainer, the CLI, the benchmarks and the parity tests talk to.
class Network {
 public:
  virtual ~Network() = default;
  virtual const ModelSpec& spec() const = 0;
  virtual std::string name() const = 0;  // "reference", "fast"
  // One line per layer, "<layer>: <how it runs>\n": on the fast path the kernel and the
  // instruction-set level it chose ("conv(1,2,k=3,pad=1): direct +relu, avx2", "relu: fused into
  // the layer before"); by default (the reference path) "<layer>: <name()>".
  virtual std::string describe() const;
  // The options make_network built it with (default ones for a network made otherwise).
  const NetworkOptions& options() const { return options_; }

  // Forward and backward over the batch, then the update rule of sgd.optimizer
  // (scratchcnn/sgd.hpp) on every parameter.
  // If the loss is NaN or infinite, throws Error and leaves parameters and velocities unchanged.
  virtual StepResult sgd_step(const Batch& batch, const Sgd& sgd) = 0;
  // Plain SGD: w <- w - lr * mean(per-sample gradients).
  StepResult train_step(const Batch& batch, float lr) { return sgd_step(batch, Sgd{lr, 0, 0}); }
  // The optimizer state, for checkpoints, each in the Parameters layout (sgd.hpp): one velocity
  // per parameter (SGD's momentum buffer, Adam's first moment) and one second moment (Adam's;
  // zero under SGD). Both are zero when the network is built.
  virtual Parameters velocity() const = 0;
  virtual Parameters second_moment() const = 0;
  // Each throws Error unless its argument has the model's sizes.
  virtual void set_velocity(const Parameters& v) = 0;
  virtual void set_second_moment(const Parameters& s) = 0;
  // Mean per-sample gradients of the batch in the Parameters layout, without updating (dropout
  // layers in training mode, their masks keyed by seed 0 and step 0).
  virtual Parameters gradients(const Batch& batch, StepResult* result = nullptr) = 0;
  // Inference. `images` holds whole samples, each spec().input.size() floats (C x H x W,
  // row-major), at least one; `logits` receives classes() floats per sample, row-major, and must
  // have exactly that size. Throws Error, before computing anything, on any size mismatch or a
  // non-finite input value (naming the sample), and after computing when a logit is NaN or
  // infinite (parameters that exploded): an answer that means nothing is never returned.
  void predict(std::span<const float> images, std::span<float> logits);
  // One sample (exactly spec().input.size() floats): its classes() logits.
  std::vector<float> predict_one(std::span<const float> image);
  virtual Parameters parameters() const = 0;

 protected:
  // The path's forward pass over n >= 1 samples of a batch predict() has checked.
  virtual void predict_unchecked(const float* images, int n, float* logits) = 0;

 private:
  friend std::unique_ptr<Network> make_network(PathKind, const ModelSpec&, const Parameters&,
                                               const NetworkOptions&);
  NetworkOptions options_;
};

// Throws Error naming the sample unless every label is in [0, classes) and every input value is
// finite, or naming the layer when a batch norm layer would see one value per channel (a flat
// input and one sample). Both paths call it before a training step touches anything.
void check_batch(const ModelSpec& spec, const Batch& batch);


// Builds a network of either path from the same spec and parameters.
std::unique_ptr<Network> make_network(PathKind path, const ModelSpec& spec, const Parameters& p,
                                      const NetworkOptions& options = {});

// The threads one training step of `batch` samples of `spec` runs on when OpenMP allows `threads`:
// 1 on the reference path; on the fast path at most one per chunk of 16 samples and one per
// MFLOP of the step's work (fast::Options::flops_per_thread), at least 1 (a smaller step does not
// pay for the fork and barrier of another thread). A last, partial batch may run on fewer.
// Results never depend on it.
int step_threads(PathKind path, const ModelSpec& spec, int batch, int threads);

}  // namespace scratchcnn
