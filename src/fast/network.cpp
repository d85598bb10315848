// fast::Network: the chunked, OpenMP-parallel training step (network.hpp has the scheme).
#include "fast/network.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "scratchcnn/error.hpp"
#include "fast/ops/ops.hpp"
#include "scratchcnn/memory.hpp"
#include "fast/layout.hpp"

namespace scratchcnn::fast {
namespace {

// Which layers' outputs are their inputs (no buffer of their own): flatten, and a ReLU fused into
// the conv or dense layer before it.
std::vector<bool> aliased_layers(const ModelSpec& spec, const Options& options) {
  std::vector<bool> alias(spec.layers.size(), false);
  for (std::size_t l = 0; l < spec.layers.size(); ++l) {
    const LayerKind k = spec.layers[l].kind;
    alias[l] = k == LayerKind::Flatten ||
               (k == LayerKind::ReLU && l > 0 && options.fuse_relu && spec.layers[l - 1].has_params());
  }
  return alias;
}

// Flat parameter layout: per layer, weights then bias, each starting 64-byte aligned.
std::size_t flat_layout(const ModelSpec& spec, std::vector<std::size_t>* w_off,
                        std::vector<std::size_t>* b_off) {
  std::size_t flat = 0;
  for (std::size_t l = 0; l < spec.layers.size(); ++l) {
    const std::size_t bias = spec.layers[l].has_params() ? std::size_t(spec.layers[l].out) : 0;
    if (w_off) w_off->push_back(flat);
    flat += align_floats(std::size_t(spec.info[l].params) - bias);
    if (b_off) b_off->push_back(flat);
    flat += align_floats(bias);
  }
  return std::max<std::size_t>(flat, 16);
}

// Per-thread workspace layout: act[0] is the packed input chunk, then per layer its output
// (unless aliased) and scratch; then the gradients grad[L..0] (wrt act[l]). Returns its floats.
std::size_t workspace_layout(const ModelSpec& spec, const std::vector<bool>& alias,
                             const std::vector<std::size_t>& scratch, std::vector<std::size_t>& act_off,
                             std::vector<std::size_t>& grad_off, std::vector<std::size_t>& scratch_off) {
  const std::size_t layers = spec.layers.size();
  act_off.assign(layers + 1, 0);
  grad_off.assign(layers + 1, 0);
  scratch_off.assign(layers, 0);
  std::size_t cur = 0;
  auto take = [&cur](std::size_t n) {
    const std::size_t at = cur;
    cur += align_floats(n);
    return at;
  };
  act_off[0] = take(std::size_t(spec.input.size()) * kChunk);
  for (std::size_t l = 0; l < layers; ++l) {
    act_off[l + 1] = alias[l] ? act_off[l] : take(std::size_t(spec.info[l].out.size()) * kChunk);
    scratch_off[l] = take(scratch[l]);
  }
  grad_off[layers] = take(std::size_t(spec.classes()) * kChunk);
  for (std::size_t l = layers; l-- > 0;)
    grad_off[l] = alias[l] ? grad_off[l + 1] : take(std::size_t(spec.info[l].in.size()) * kChunk);
  return cur;
}

KernelOptions kernel_options(const ModelSpec& spec, std::size_t l, const Options& options) {
  KernelOptions ko;
  ko.conv = options.conv;
  const LayerSpec& ls = spec.layers[l];
  ko.fuse_relu = options.fuse_relu && ls.has_params() && l + 1 < spec.layers.size() &&
                 spec.layers[l + 1].kind == LayerKind::ReLU;
  return ko;
}

class FastNetwork final : public scratchcnn::Network {
 public:
  FastNetwork(const ModelSpec& spec, const Parameters& p, const Options& options);

  const ModelSpec& spec() const override { return spec_; }
  std::string name() const override { return "fast"; }
  StepResult sgd_step(const Batch& batch, const Sgd& sgd) override { return run(batch, sgd, true); }
  Parameters gradients(const Batch& batch, StepResult* result) override;
  Parameters parameters() const override { return export_flat(params_.data()); }
  Parameters velocity() const override { return export_flat(velocity_.data()); }
  void set_velocity(const Parameters& v) override;

  std::string describe() const;

 protected:
  void predict_unchecked(const float* images, int n, float* logits) override;

 private:
  StepResult run(const Batch& batch, const Sgd& sgd, bool update);
  // Workspaces for a batch of n; with `training` also the per-chunk partials and loss buffers.
  void reserve(int n, bool training);
  // Threads for a parallel region over nc chunks doing `flops` of work: at most one per chunk and
  // one per Options::flops_per_thread, at least 1, at most max_threads() (memory.hpp). A region costs a fork and a
  // barrier; on a step as small as the seed model's (6.4 MFLOP, ~70 us on one core) a second
  // thread saves less than that costs, and on a loaded machine a descheduled thread holds every
  // barrier up by a whole time slice (measured: 15.6 ms instead of 0.07 ms per seed step).
  // Results do not depend on it: chunks and their reduction order are fixed.
  int threads_for(int nc, double flops) const;
  // One chunk: q-th kChunk samples of images (valid of them), through every layer.
  // ws: this thread's workspace.
  void forward_chunk(float* ws, const float* images, int q, int valid) const;
  // Backward of the chunk whose forward ws holds, from grad[L] (already set by the loss); writes
  // the chunk's parameter-gradient sums into partial (flat parameter layout).
  void backward_chunk(float* ws, float* partial) const;
  Parameters export_flat(const float* flat) const;

  ModelSpec spec_;
  const ops::Table& k_ = ops::active();  // the level of every kernel of this network
  double flops_per_thread_ = 0;
  int classes_ = 0;
  std::size_t layers_ = 0;
  // Flat parameter layout: per layer, weights then bias, each starting 64-byte aligned.
  std::vector<std::size_t> w_off_, b_off_;
  std::size_t flat_ = 0;
  AlignedBuffer params_, mean_;
  AlignedBuffer velocity_;  // same layout as params_; zero until a step with momentum
  // Per layer: its kernel, or null for a ReLU fused into the layer before it.
  std::vector<std::unique_ptr<LayerKernel>> kernels_;
  std::vector<bool> alias_;  // output is the input (flatten, fused ReLU)
  int first_param_ = 0;      // layers before it need no backward; it needs no input gradient
  // Per-thread workspace: activations act[0..L], gradients grad[0..L] (wrt act[l]), per-layer scratch.
  std::vector<std::size_t> act_off_, grad_off_, scratch_off_;
  std::size_t ws_floats_ = 0;
  std::vector<AlignedBuffer> ws_;
  AlignedBuffer partials_;  // chunk_count(n) x flat_
  std::vector<double> losses_;
  std::vector<unsigned char> correct_;
};

FastNetwork::FastNetwork(const ModelSpec& spec, const Parameters& p, const Options& options)
    : spec_(spec),
      flops_per_thread_(options.flops_per_thread),
      classes_(spec.classes()),
      layers_(spec.layers.size()) {
  check_parameters(spec_, p);
  if (layers_ == 0) throw Error("fast: the model has no layers");

  flat_ = flat_layout(spec_, &w_off_, &b_off_);
  params_.reserve(flat_);
  mean_.reserve(flat_);
  velocity_.reserve(flat_);
  std::fill(velocity_.data(), velocity_.data() + flat_, 0.0f);
  for (std::size_t l = 0; l < layers_; ++l) {
    std::copy(p.layers[l].weights.begin(), p.layers[l].weights.end(), params_.data() + w_off_[l]);
    std::copy(p.layers[l].bias.begin(), p.layers[l].bias.end(), params_.data() + b_off_[l]);
  }

  first_param_ = int(layers_);
  for (std::size_t l = 0; l < layers_; ++l)
    if (spec_.layers[l].has_params()) {
      first_param_ = int(l);
      break;
    }

  kernels_.resize(layers_);
  alias_ = aliased_layers(spec_, options);
  std::vector<std::size_t> scratch(layers_, 0);
  for (std::size_t l = 0; l < layers_; ++l) {
    if (alias_[l] && spec_.layers[l].kind == LayerKind::ReLU) continue;  // fused: no kernel
    const bool hp = spec_.layers[l].has_params();
    kernels_[l] = make_kernel(k_, spec_.layers[l], spec_.info[l],
                              hp ? params_.data() + w_off_[l] : nullptr,
                              hp ? params_.data() + b_off_[l] : nullptr,
                              kernel_options(spec_, l, options));
    scratch[l] = kernels_[l]->scratch_floats();
  }
  ws_floats_ = workspace_layout(spec_, alias_, scratch, act_off_, grad_off_, scratch_off_);
}

int FastNetwork::threads_for(int nc, double flops) const {
  return region_threads(max_threads(), nc, flops, flops_per_thread_);
}

void FastNetwork::reserve(int n, bool training) {
  // One workspace per thread a region over chunk_count(n) chunks can have (threads_for).
  const std::size_t threads = std::size_t(std::max(1, std::min(max_threads(), chunk_count(n))));
  if (ws_.size() < threads) ws_.resize(threads);
  for (std::size_t t = 0; t < threads; ++t) ws_[t].reserve(ws_floats_);
  if (!training) return;
  partials_.reserve(std::size_t(chunk_count(n)) * flat_);
  if (losses_.size() < std::size_t(n)) {
    losses_.resize(std::size_t(n));
    correct_.resize(std::size_t(n));
  }
}

void FastNetwork::forward_chunk(float* ws, const float* images, int q, int valid) const {
  const std::int64_t f0 = spec_.input.size();
  pack_chunk(images + std::int64_t(q) * kChunk * f0, valid, f0, ws + act_off_[0]);
  for (std::size_t l = 0; l < layers_; ++l)
    if (!alias_[l]) kernels_[l]->forward(ws + act_off_[l], ws + act_off_[l + 1], ws + scratch_off_[l]);
}

void FastNetwork::backward_chunk(float* ws, float* partial) const {
  for (std::size_t l = layers_; l-- > std::size_t(first_param_);) {
    if (alias_[l]) continue;
    const bool hp = spec_.layers[l].has_params();
    kernels_[l]->backward(ws + act_off_[l], ws + act_off_[l + 1], ws + grad_off_[l + 1],
                          int(l) > first_param_ ? ws + grad_off_[l] : nullptr, ws + scratch_off_[l],
                          hp ? partial + w_off_[l] : nullptr, hp ? partial + b_off_[l] : nullptr);
  }
}

void FastNetwork::set_velocity(const Parameters& v) {
  check_parameters(spec_, v);
  std::fill(velocity_.data(), velocity_.data() + flat_, 0.0f);
  for (std::size_t l = 0; l < layers_; ++l) {
    std::copy(v.layers[l].weights.begin(), v.layers[l].weights.end(), velocity_.data() + w_off_[l]);
    std::copy(v.layers[l].bias.begin(), v.layers[l].bias.end(), velocity_.data() + b_off_[l]);
  }
}

StepResult FastNetwork::run(const Batch& batch, const Sgd& sgd, bool update) {
  const int n = batch.n;
  // Labels in range and finite inputs, before anything changes: a NaN pixel would otherwise be
  // flattened to 0 by a ReLU while the weight gradients turn NaN.
  check_batch(spec_, batch);
  reserve(n, true);
  const int nc = chunk_count(n);
  float* partials = partials_.data();
  float* params = params_.data();
  float* mean = mean_.data();
  float* velocity = velocity_.data();
  const float lr = sgd.lr, momentum = sgd.momentum, decay = sgd.weight_decay;
  double* losses = losses_.data();
  unsigned char* correct = correct_.data();
  const std::size_t flat = flat_;
  // Blocks of 64 floats: whole cache lines per thread in the reduction.
  const std::int64_t blocks = std::int64_t((flat + 63) / 64);
  const int threads = threads_for(nc, double(spec_.train_flops()) * n);

#pragma omp parallel num_threads(threads)
  {
    float* ws = ws_[std::size_t(omp_get_thread_num())].data();
#pragma omp for schedule(dynamic, 1)
    for (int q = 0; q < nc; ++q) {
      const int valid = std::min(kChunk, n - q * kChunk);
      forward_chunk(ws, batch.images, q, valid);
      k_.softmax_cross_entropy(ws + act_off_[layers_], classes_, batch.labels + q * kChunk,
                                     valid, ws + grad_off_[layers_], losses + q * kChunk,
                                     correct + q * kChunk);
      backward_chunk(ws, partials + std::size_t(q) * flat);
    }
    // Every thread sums the same losses in the same order, so all agree on whether to update.
    double total = 0;
    for (int s = 0; s < n; ++s) total += losses[s];
    const bool apply = update && std::isfinite(total);
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::size_t i0 = std::size_t(b) * 64, i1 = std::min(flat, i0 + 64);
      for (std::size_t i = i0; i < i1; ++i) {
        float s = partials[i];
        for (int q = 1; q < nc; ++q) s += partials[std::size_t(q) * flat + i];
        const float m = s / float(n);
        mean[i] = m;
        if (!apply) continue;
        sgd_update(params[i], velocity[i], m, lr, momentum, decay);
      }
    }
  }

  StepResult r;
  double total = 0;
  for (int s = 0; s < n; ++s) {
    total += losses[s];
    r.correct += correct[s];
  }
  r.loss = total / n;
  if (!std::isfinite(r.loss))
    throw Error(std::string("loss is ") + (std::isnan(r.loss) ? "NaN" : "infinite") +
                "; parameters left unchanged");
  return r;
}

Parameters FastNetwork::gradients(const Batch& batch, StepResult* result) {
  const StepResult r = run(batch, Sgd{0.0f, 0.0f, 0.0f}, false);
  if (result) *result = r;
  return export_flat(mean_.data());
}

void FastNetwork::predict_unchecked(const float* images, int n, float* logits) {
  if (n <= 0) return;
  reserve(n, false);
  const int nc = chunk_count(n);
  const int threads = threads_for(nc, double(spec_.forward_flops()) * n);
#pragma omp parallel num_threads(threads)
  {
    float* ws = ws_[std::size_t(omp_get_thread_num())].data();
#pragma omp for schedule(dynamic, 1)
    for (int q = 0; q < nc; ++q) {
      const int valid = std::min(kChunk, n - q * kChunk);
      forward_chunk(ws, images, q, valid);
      unpack_chunk(ws + act_off_[layers_], valid, classes_,
                   logits + std::size_t(q) * kChunk * classes_);
    }
  }
}

Parameters FastNetwork::export_flat(const float* flat) const {
  Parameters p = Parameters::zeros(spec_);
  for (std::size_t l = 0; l < layers_; ++l) {
    LayerParams& lp = p.layers[l];
    std::copy(flat + w_off_[l], flat + w_off_[l] + lp.weights.size(), lp.weights.begin());
    std::copy(flat + b_off_[l], flat + b_off_[l] + lp.bias.size(), lp.bias.begin());
  }
  return p;
}

std::string FastNetwork::describe() const {
  std::string s;
  for (std::size_t l = 0; l < layers_; ++l) {
    s += spec_.layers[l].text() + ": ";
    if (!kernels_[l])
      s += "fused into the layer before";
    else if (kernels_[l]->is_view())
      s += "view";
    else {
      const std::string a = kernels_[l]->algorithm();
      s += a.empty() ? "pointwise" : a;
      if (l + 1 < layers_ && !kernels_[l + 1] && alias_[l + 1]) s += " + relu";
    }
    s += "\n";
  }
  return s;
}

}  // namespace

int region_threads(int most, int chunks, double flops, double flops_per_thread) {
  most = std::min(most, chunks);
  if (flops_per_thread <= 0) return std::max(1, most);
  const double by_work = flops / flops_per_thread;
  return std::max(1, by_work < most ? static_cast<int>(by_work) : most);
}

std::unique_ptr<scratchcnn::Network> make_network(const ModelSpec& spec, const Parameters& p,
                                                  const Options& options) {
  return std::make_unique<FastNetwork>(spec, p, options);
}

Footprint footprint(const ModelSpec& spec, const Options& options) {
  Footprint f;
  f.parameter_floats = flat_layout(spec, nullptr, nullptr);
  const std::vector<bool> alias = aliased_layers(spec, options);
  std::vector<std::size_t> scratch(spec.layers.size(), 0);
  const ops::Table& table = ops::active();
  for (std::size_t l = 0; l < spec.layers.size(); ++l)
    if (!alias[l])
      scratch[l] = scratch_floats(table, spec.layers[l], spec.info[l], kernel_options(spec, l, options));
  std::vector<std::size_t> a, g, s;
  f.workspace_floats = workspace_layout(spec, alias, scratch, a, g, s);
  return f;
}

std::string describe(const scratchcnn::Network& net) {
  const auto* f = dynamic_cast<const FastNetwork*>(&net);
  return f ? f->describe() : std::string();
}

}  // namespace scratchcnn::fast
