// fast::Network: the chunked, OpenMP-parallel training step (network.hpp has the scheme). The
// plan (plan.hpp), the flat parameters (flat_params.hpp) and the reduction (reduce.hpp) are built
// elsewhere; this file runs a step.
#include "fast/network.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/batchnorm.hpp"
#include "fast/batchnorm.hpp"
#include "fast/flat_params.hpp"
#include "fast/layout.hpp"
#include "fast/ops/ops.hpp"
#include "fast/plan.hpp"
#include "fast/reduce.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::fast {
namespace {

// spec, after checking that p has its sizes and that it has layers.
const ModelSpec& checked(const ModelSpec& spec, const Parameters& p) {
  check_parameters(spec, p);
  if (spec.layers.empty()) throw Error("fast: the model has no layers");
  return spec;
}

class FastNetwork final : public scratchcnn::Network {
 public:
  FastNetwork(const ModelSpec& spec, const Parameters& p, const Options& options);

  const ModelSpec& spec() const override { return spec_; }
  std::string name() const override { return "fast"; }
  std::string describe() const override;
  StepResult sgd_step(const Batch& batch, const Sgd& sgd) override {
    check_step(sgd);
    return run(batch, sgd, true);
  }
  Parameters gradients(const Batch& batch, StepResult* result) override;
  Parameters parameters() const override;
  Parameters velocity() const override { return flat_.layout.unpack(spec_, flat_.velocity.data()); }
  Parameters second_moment() const override { return flat_.layout.unpack(spec_, flat_.second.data()); }
  void set_velocity(const Parameters& v) override;
  void set_second_moment(const Parameters& s) override;

 protected:
  void predict_unchecked(const float* images, int n, float* logits) override;

 private:
  StepResult run(const Batch& batch, const Sgd& sgd, bool update);
  // run's step over a group of more than one process (network.hpp), after check_batch and reserve.
  StepResult run_group(const Batch& batch, const Sgd& sgd, bool update);
  // Every rank ends with every sample's loss and correct flag (each computed by one rank).
  void gather_losses(int n);
  // With a group: check_batch on every rank, and every rank stops (throws) when any rank's batch
  // failed it or the ranks' sample counts differ.
  void agree_on_batch(const Batch& batch);
  // Workspaces for a batch of n; with `training` also the per-chunk partials and loss buffers.
  void reserve(int n, bool training);
  // Threads for a parallel region over nc chunks doing `flops` of work: at most one per chunk and
  // one per Options::flops_per_thread, at least 1, at most max_threads() (memory.hpp). Results do
  // not depend on it: chunks and their reduction order are fixed.
  int threads_for(int nc, double flops) const;
  // One chunk: q-th kChunk samples of images (valid of them), through every layer.
  // ws: this thread's workspace. key: the step's dropout key (null: evaluation).
  void forward_chunk(float* ws, const float* images, int q, int valid,
                     const DropoutKey* key = nullptr) const;
  // Backward of the chunk whose forward ws holds, from grad[L] (already set by the loss); writes
  // the chunk's parameter-gradient sums into partial (flat parameter layout).
  void backward_chunk(float* ws, float* partial) const;
  // Forward, loss and backward of chunk q of the batch, on this thread's workspace.
  void train_chunk(float* ws, const Batch& batch, int q, const DropoutKey& key);
  // Block b of the flat arrays: the sum of the partials in the tree order of reduce.hpp into the
  // mean gradient array (in place on the partials).
  void reduce_block(std::int64_t b, int n);
  // Block b of the flat arrays: mean = sum / float(n), then (with apply) the update. The one
  // place either path turns the tree's root into parameters.
  void update_block(std::int64_t b, int n, const UpdateRule<float>& rule, bool apply);
  StepResult loss_of(int n) const;  // throws Error when the loss is not finite

  // ---- Models with batch norm (fast/batchnorm.hpp) ----
  // A training step of a model with batch norm: every phase runs over all chunks of this rank
  // (one workspace per chunk), with the batch statistics added in the chunk tree between them.
  StepResult run_staged(const Batch& batch, const Sgd& sgd, bool update);
  // Layers [first, last) of chunk q forward; [first, last) backward (layers before first_param
  // skipped), writing parameter-gradient partials of the chunk.
  void forward_layers(float* ws, int q, int valid, std::size_t first, std::size_t last,
                      const DropoutKey* key) const;
  void backward_layers(float* ws, float* partial, std::size_t first, std::size_t last) const;
  // The chunk tree over `count` floats per chunk of bn_part_ (stride `count`) into sum: on this
  // process, or across the group's ranks.
  void reduce_stats(int nc, std::size_t count, float* sum, int threads);
  // After the partials of every chunk are written: the losses, the reduction and the update.
  StepResult finish_step(int n, const Sgd& sgd, bool update);
  void update_running(int n);

  struct BatchNormLayer {
    std::size_t layer = 0;
    const BatchNormKernel* kernel = nullptr;
    std::size_t running = 0;  // offset in running_ (2 x C floats)
    // Of the last training step: mean, var, inv (C each), then the backward totals sum_gx, sum_g.
    std::vector<float> stats;
  };
  std::vector<BatchNormLayer> bn_;
  std::vector<float> running_;   // every batch norm layer's running mean then variance
  AlignedBuffer bn_part_;        // chunk_count(n) x 2 x the most channels of a batch norm layer

  ModelSpec spec_;
  const ops::Table& k_ = ops::active();  // the level of every kernel of this network
  double flops_per_thread_ = 0;
  std::size_t layers_ = 0;
  FlatParams flat_;
  Plan plan_;
  std::vector<std::unique_ptr<LayerKernel>> kernels_;  // per layer; null for a fused ReLU
  std::vector<AlignedBuffer> ws_;                      // per thread: plan_.workspace_floats
  AlignedBuffer partials_;                             // chunk_count(n) x flat size
  std::vector<double> losses_;
  std::vector<unsigned char> correct_;
  std::shared_ptr<ProcessGroup> group_;    // null or one process: this process alone
  std::vector<unsigned char> gathered_;    // run_group: the packed losses and flags of a batch
  std::vector<std::size_t> gather_offsets_;
};

FastNetwork::FastNetwork(const ModelSpec& spec, const Parameters& p, const Options& options)
    : spec_(checked(spec, p)),
      flops_per_thread_(options.flops_per_thread),
      layers_(spec.layers.size()),
      flat_(spec_, p),
      plan_(k_, spec_, options),
      group_(options.group) {
  kernels_ = make_kernels(k_, spec_, plan_, flat_.layout, flat_.values.data());
  const Parameters values = p.with_running(spec_);
  for (std::size_t l = 0; l < layers_; ++l) {
    if (spec_.layers[l].kind != LayerKind::BatchNorm) continue;
    BatchNormLayer b;
    b.layer = l;
    b.running = running_.size();
    b.stats.assign(5 * std::size_t(spec_.layers[l].out), 0.0f);
    running_.insert(running_.end(), values.layers[l].running.begin(), values.layers[l].running.end());
    bn_.push_back(std::move(b));
  }
  for (BatchNormLayer& b : bn_) {  // running_ no longer moves
    auto* k = static_cast<BatchNormKernel*>(kernels_[b.layer].get());
    k->set_running(running_.data() + b.running);
    b.kernel = k;
  }
}

Parameters FastNetwork::parameters() const {
  Parameters p = flat_.layout.unpack(spec_, flat_.values.data());
  for (const BatchNormLayer& b : bn_)
    p.layers[b.layer].running.assign(running_.begin() + std::ptrdiff_t(b.running),
                                     running_.begin() + std::ptrdiff_t(b.running + 2 * std::size_t(b.kernel->channels())));
  return p;
}

int FastNetwork::threads_for(int nc, double flops) const {
  return region_threads(max_threads(), nc, flops, flops_per_thread_);
}

void FastNetwork::reserve(int n, bool training) {
  // One workspace per thread a region over chunk_count(n) chunks can have (threads_for).
  const std::size_t threads = std::size_t(std::max(1, std::min(max_threads(), chunk_count(n))));
  if (ws_.size() < threads) ws_.resize(threads);
  for (std::size_t t = 0; t < threads; ++t) ws_[t].reserve(plan_.workspace_floats);
  if (!training) return;
  partials_.reserve(std::size_t(chunk_count(n)) * flat_.layout.floats());
  if (losses_.size() < std::size_t(n)) {
    losses_.resize(std::size_t(n));
    correct_.resize(std::size_t(n));
  }
}

void FastNetwork::forward_chunk(float* ws, const float* images, int q, int valid,
                                const DropoutKey* key) const {
  const std::int64_t f0 = spec_.input.size();
  pack_chunk(images + std::int64_t(q) * kChunk * f0, valid, f0, ws + plan_.act[0]);
  forward_layers(ws, q, valid, 0, layers_, key);
}

void FastNetwork::backward_chunk(float* ws, float* partial) const {
  backward_layers(ws, partial, 0, layers_);
}

void FastNetwork::set_velocity(const Parameters& v) {
  check_parameters(spec_, v);
  flat_.layout.pack(v, flat_.velocity.data());
}

void FastNetwork::set_second_moment(const Parameters& s) {
  check_parameters(spec_, s);
  flat_.layout.pack(s, flat_.second.data());
}

void FastNetwork::train_chunk(float* ws, const Batch& batch, int q, const DropoutKey& key) {
  const int valid = std::min(kChunk, batch.n - q * kChunk);
  forward_chunk(ws, batch.images, q, valid, &key);
  k_.softmax_cross_entropy(ws + plan_.act[layers_], spec_.classes(), batch.labels + q * kChunk,
                           valid, ws + plan_.grad[layers_], losses_.data() + q * kChunk,
                           correct_.data() + q * kChunk);
  backward_chunk(ws, partials_.data() + std::size_t(q) * flat_.layout.floats());
}

void FastNetwork::reduce_block(std::int64_t b, int n) {
  const std::size_t flat = flat_.layout.floats();
  const std::size_t i0 = std::size_t(b) * kReduceBlock, i1 = std::min(flat, i0 + kReduceBlock);
  reduce_chunks(partials_.data() + i0, flat, chunk_count(n), i1 - i0, flat_.mean.data() + i0);
}

void FastNetwork::update_block(std::int64_t b, int n, const UpdateRule<float>& rule, bool apply) {
  const std::size_t flat = flat_.layout.floats();
  const std::size_t i0 = std::size_t(b) * kReduceBlock, i1 = std::min(flat, i0 + kReduceBlock);
  float* mean = flat_.mean.data();
  float* params = flat_.values.data();
  float* velocity = flat_.velocity.data();
  float* second = flat_.second.data();
  for (std::size_t i = i0; i < i1; ++i) {
    const float m = mean[i] / float(n);
    mean[i] = m;
    if (apply) apply_update(params[i], velocity[i], second[i], m, rule);
  }
}

StepResult FastNetwork::run(const Batch& batch, const Sgd& sgd, bool update) {
  if (!bn_.empty()) return run_staged(batch, sgd, update);
  const int n = batch.n;
  // Labels in range and finite inputs, before anything changes: a NaN pixel would otherwise be
  // flattened to 0 by a ReLU while the weight gradients turn NaN.
  if (group_ && group_->size() > 1) {
    agree_on_batch(batch);
    reserve(n, true);
    return run_group(batch, sgd, update);
  }
  check_batch(spec_, batch);
  reserve(n, true);
  const int nc = chunk_count(n);
  const std::int64_t blocks =
      std::int64_t((flat_.layout.floats() + kReduceBlock - 1) / kReduceBlock);
  const int threads = threads_for(nc, double(spec_.train_flops()) * n);
  const double* losses = losses_.data();
  const UpdateRule<float> rule = UpdateRule<float>::of(sgd);
  const DropoutKey key{sgd.seed, sgd.step};
#pragma omp parallel num_threads(threads)
  {
    float* ws = ws_[std::size_t(omp_get_thread_num())].data();
#pragma omp for schedule(dynamic, 1)
    for (int q = 0; q < nc; ++q) train_chunk(ws, batch, q, key);
    // Every thread sums the same losses in the same order, so all agree on whether to update.
    double total = 0;
    for (int s = 0; s < n; ++s) total += losses[s];
    const bool apply = update && std::isfinite(total);
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < blocks; ++b) {
      reduce_block(b, n);
      update_block(b, n, rule, apply);
    }
  }
  return loss_of(n);
}

void FastNetwork::agree_on_batch(const Batch& batch) {
  // Each rank checks the whole batch, then all learn every rank's verdict and sample count (one
  // allgather), so a batch that fails on one rank alone (a different copy of the data) stops every
  // rank here instead of leaving the others waiting in the step's collectives.
  ProcessGroup& g = *group_;
  std::string error;
  try {
    check_batch(spec_, batch);
  } catch (const Error& e) {
    error = e.what();
  }
  const int ranks = g.size(), me = g.rank();
  std::vector<std::int32_t> all(std::size_t(2 * ranks), 0);
  all[std::size_t(2 * me)] = batch.n;
  all[std::size_t(2 * me + 1)] = error.empty() ? 1 : 0;
  std::vector<std::size_t> offsets(std::size_t(ranks) + 1);
  for (int r = 0; r <= ranks; ++r) offsets[std::size_t(r)] = std::size_t(r) * 2 * sizeof(std::int32_t);
  g.allgather(all.data(), offsets);
  if (!error.empty()) throw Error(error);
  for (int r = 0; r < ranks; ++r) {
    if (!all[std::size_t(2 * r + 1)])
      throw Error("the batch of rank " + std::to_string(r) +
                  " failed its check (that rank says why); every rank stops");
    if (all[std::size_t(2 * r)] != batch.n)
      throw Error("rank " + std::to_string(r) + " steps a batch of " +
                  std::to_string(all[std::size_t(2 * r)]) + " samples, rank " + std::to_string(me) +
                  " one of " + std::to_string(batch.n) +
                  ": every rank of a group steps the same batch");
  }
}

void FastNetwork::gather_losses(int n) {
  // One record per sample: its loss (8 bytes) and its correct flag (1 byte), in sample order;
  // rank r contributes the samples of its chunks.
  constexpr std::size_t kRecord = sizeof(double) + 1;
  ProcessGroup& g = *group_;
  const int ranks = g.size(), nc = chunk_count(n);
  gathered_.resize(std::size_t(n) * kRecord);
  gather_offsets_.resize(std::size_t(ranks) + 1);
  for (int r = 0; r <= ranks; ++r) {
    const int q = r == ranks ? nc : chunk_share(nc, ranks, r).first;
    const std::int64_t end = std::min<std::int64_t>(n, std::int64_t(q) * kChunk);
    gather_offsets_[std::size_t(r)] = std::size_t(end) * kRecord;
  }
  const std::size_t mine0 = gather_offsets_[std::size_t(g.rank())] / kRecord;
  const std::size_t mine1 = gather_offsets_[std::size_t(g.rank()) + 1] / kRecord;
  for (std::size_t s = mine0; s < mine1; ++s) {
    std::memcpy(gathered_.data() + s * kRecord, &losses_[s], sizeof(double));
    gathered_[s * kRecord + sizeof(double)] = correct_[s];
  }
  g.allgather(gathered_.data(), gather_offsets_);
  for (std::size_t s = 0; s < std::size_t(n); ++s) {
    std::memcpy(&losses_[s], gathered_.data() + s * kRecord, sizeof(double));
    correct_[s] = gathered_[s * kRecord + sizeof(double)];
  }
}

StepResult FastNetwork::run_group(const Batch& batch, const Sgd& sgd, bool update) {
  ProcessGroup& g = *group_;
  const int n = batch.n, nc = chunk_count(n), ranks = g.size(), me = g.rank();
  // Plain ints, not a structured binding: OpenMP regions may not capture those (clang refuses).
  const std::pair<int, int> share = chunk_share(nc, ranks, me);
  const int first = share.first, last = share.second;
  const DropoutKey key{sgd.seed, sgd.step};
  if (last > first) {
    const int samples = std::min(n, last * kChunk) - first * kChunk;
    const int threads = threads_for(last - first, double(spec_.train_flops()) * samples);
#pragma omp parallel num_threads(threads)
    {
      float* ws = ws_[std::size_t(omp_get_thread_num())].data();
#pragma omp for schedule(dynamic, 1)
      for (int q = first; q < last; ++q) train_chunk(ws, batch, q, key);
    }
  }
  return finish_step(n, sgd, update);
}

StepResult FastNetwork::finish_step(int n, const Sgd& sgd, bool update) {
  const int nc = chunk_count(n);
  const bool grouped = group_ && group_->size() > 1;
  if (grouped) gather_losses(n);
  // Every rank (thread) sums the same losses in the same order, so all agree on whether to update.
  double total = 0;
  for (int s = 0; s < n; ++s) total += losses_[std::size_t(s)];
  const bool apply = update && std::isfinite(total);
  const std::size_t flat = flat_.layout.floats();
  const std::int64_t blocks = std::int64_t((flat + kReduceBlock - 1) / kReduceBlock);
  const int threads = threads_for(nc, double(spec_.train_flops()) * n);
  const UpdateRule<float> rule = UpdateRule<float>::of(sgd);
  if (grouped) {
    reduce_across(*group_, partials_.data(), flat, nc, flat, flat_.mean.data(), threads);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t b = 0; b < blocks; ++b) update_block(b, n, rule, apply);
  } else {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t b = 0; b < blocks; ++b) {
      reduce_block(b, n);
      update_block(b, n, rule, apply);
    }
  }
  if (apply) update_running(n);
  return loss_of(n);
}

void FastNetwork::update_running(int n) {
  for (BatchNormLayer& b : bn_) {
    const int c = b.kernel->channels();
    const float values = float(n) * float(b.kernel->plane());
    float* rm = running_.data() + b.running;
    for (int i = 0; i < c; ++i)
      batchnorm::update_running(rm[i], rm[c + i], b.stats[std::size_t(i)],
                                b.stats[std::size_t(c + i)], values);
  }
}

void FastNetwork::forward_layers(float* ws, int q, int valid, std::size_t first, std::size_t last,
                                 const DropoutKey* key) const {
  for (std::size_t l = first; l < last; ++l) {
    if (plan_.alias[l]) continue;
    if (spec_.layers[l].kind == LayerKind::Dropout)
      fill_dropout_mask(spec_.layers[l], spec_.info[l], key, l, std::int64_t(q) * kChunk, valid,
                        ws + plan_.scratch[l]);
    kernels_[l]->forward(ws + plan_.act[l], ws + plan_.act[l + 1], ws + plan_.scratch[l]);
  }
}

void FastNetwork::backward_layers(float* ws, float* partial, std::size_t first,
                                  std::size_t last) const {
  const FlatLayout& fl = flat_.layout;
  for (std::size_t l = last; l-- > std::max(first, plan_.first_param);) {
    if (plan_.alias[l]) continue;
    const bool hp = spec_.layers[l].has_params();
    kernels_[l]->backward(ws + plan_.act[l], ws + plan_.act[l + 1], ws + plan_.grad[l + 1],
                          l > plan_.first_param ? ws + plan_.grad[l] : nullptr,
                          ws + plan_.scratch[l], hp ? partial + fl.weights(l) : nullptr,
                          hp ? partial + fl.bias(l) : nullptr);
  }
}

void FastNetwork::reduce_stats(int nc, std::size_t count, float* sum, int threads) {
  if (group_ && group_->size() > 1)
    reduce_across(*group_, bn_part_.data(), count, nc, count, sum, threads);
  else
    reduce_chunks(bn_part_.data(), count, nc, count, sum);
}

StepResult FastNetwork::run_staged(const Batch& batch, const Sgd& sgd, bool update) {
  const bool grouped = group_ && group_->size() > 1;
  if (grouped) agree_on_batch(batch);
  else check_batch(spec_, batch);
  const int n = batch.n, nc = chunk_count(n);
  reserve(n, true);
  const std::pair<int, int> share = grouped ? chunk_share(nc, group_->size(), group_->rank())
                                            : std::pair<int, int>(0, nc);
  const int first = share.first, last = share.second;
  const int mine = last - first;
  // One workspace per chunk of this rank: every chunk's activations live until its backward.
  if (ws_.size() < std::size_t(mine)) ws_.resize(std::size_t(mine));
  for (int i = 0; i < mine; ++i) ws_[std::size_t(i)].reserve(plan_.workspace_floats);
  std::size_t most = 0;
  for (const BatchNormLayer& b : bn_) most = std::max(most, 2 * std::size_t(b.kernel->channels()));
  bn_part_.reserve(std::size_t(nc) * most);
  const int samples = mine > 0 ? std::min(n, last * kChunk) - first * kChunk : 0;
  const int threads = threads_for(std::max(1, mine), double(spec_.train_flops()) * samples);
  const DropoutKey key{sgd.seed, sgd.step};
  const auto valid = [n](int q) { return std::min(kChunk, n - q * kChunk); };
  const auto ws = [this, first](int q) { return ws_[std::size_t(q - first)].data(); };
  const auto partial = [this](int q) {
    return partials_.data() + std::size_t(q) * flat_.layout.floats();
  };
  // f(q) for every chunk of this rank, on `threads` threads.
  const auto each_chunk = [&](const auto& f) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int q = first; q < last; ++q) f(q);
  };
  const std::int64_t f0 = spec_.input.size();
  each_chunk([&](int q) {
    pack_chunk(batch.images + std::int64_t(q) * kChunk * f0, valid(q), f0, ws(q) + plan_.act[0]);
  });
  float* part = bn_part_.data();
  std::size_t from = 0;
  for (BatchNormLayer& b : bn_) {
    const std::size_t l = b.layer;
    const BatchNormKernel& k = *b.kernel;
    const int c = k.channels();
    const float values = float(n) * float(k.plane());
    float* mean = b.stats.data();
    float* var = mean + c;
    float* inv = var + c;
    each_chunk([&](int q) { forward_layers(ws(q), q, valid(q), from, l, &key); });
    each_chunk([&](int q) { k.channel_sums(ws(q) + plan_.act[l], valid(q), part + std::size_t(q) * c); });
    reduce_stats(nc, std::size_t(c), mean, threads);
    for (int i = 0; i < c; ++i) mean[i] = mean[i] / values;
    each_chunk([&](int q) {
      k.square_deviations(ws(q) + plan_.act[l], valid(q), mean, part + std::size_t(q) * c);
    });
    reduce_stats(nc, std::size_t(c), var, threads);
    for (int i = 0; i < c; ++i) {
      var[i] = var[i] / values;
      inv[i] = batchnorm::inv_std(var[i]);
    }
    each_chunk([&](int q) {
      k.forward_train(ws(q) + plan_.act[l], ws(q) + plan_.act[l + 1], mean, inv, valid(q));
    });
    from = l + 1;
  }
  each_chunk([&](int q) {
    float* w = ws(q);
    forward_layers(w, q, valid(q), from, layers_, &key);
    k_.softmax_cross_entropy(w + plan_.act[layers_], spec_.classes(), batch.labels + q * kChunk,
                             valid(q), w + plan_.grad[layers_], losses_.data() + q * kChunk,
                             correct_.data() + q * kChunk);
  });
  std::size_t to = layers_;
  const FlatLayout& fl = flat_.layout;
  for (std::size_t j = bn_.size(); j-- > 0;) {
    BatchNormLayer& b = bn_[j];
    const std::size_t l = b.layer;
    const BatchNormKernel& k = *b.kernel;
    const int c = k.channels();
    const float values = float(n) * float(k.plane());
    const float* mean = b.stats.data();
    const float* inv = mean + 2 * c;
    float* sum_gx = b.stats.data() + 3 * c;
    float* sum_g = sum_gx + c;
    each_chunk([&](int q) {
      float* w = ws(q);
      backward_layers(w, partial(q), l + 1, to);
      float* dscale = partial(q) + fl.weights(l);
      float* dshift = partial(q) + fl.bias(l);
      k.gradient_sums(w + plan_.act[l], w + plan_.grad[l + 1], mean, inv, valid(q), dscale, dshift);
      float* p = part + std::size_t(q) * 2 * c;
      std::copy(dscale, dscale + c, p);
      std::copy(dshift, dshift + c, p + c);
    });
    reduce_stats(nc, 2 * std::size_t(c), sum_gx, threads);  // sum_gx then sum_g
    if (l > plan_.first_param)
      each_chunk([&](int q) {
        float* w = ws(q);
        k.backward_train(w + plan_.act[l], w + plan_.grad[l + 1], w + plan_.grad[l], mean, inv,
                         sum_gx, sum_g, values, valid(q));
      });
    to = l;
  }
  each_chunk([&](int q) { backward_layers(ws(q), partial(q), 0, to); });
  return finish_step(n, sgd, update);
}

StepResult FastNetwork::loss_of(int n) const {
  StepResult r;
  double total = 0;
  for (int s = 0; s < n; ++s) {
    total += losses_[std::size_t(s)];
    r.correct += correct_[std::size_t(s)];
  }
  r.loss = total / n;
  if (!std::isfinite(r.loss))
    throw Error(std::string("loss is ") + (std::isnan(r.loss) ? "NaN" : "infinite") +
                "; parameters left unchanged");
  return r;
}

Parameters FastNetwork::gradients(const Batch& batch, StepResult* result) {
  Sgd none;  // no update; dropout masks keyed by seed 0, step 0, as the reference's gradients()
  none.lr = 0;
  none.step = 0;
  const StepResult r = run(batch, none, false);
  if (result) *result = r;
  return flat_.layout.unpack(spec_, flat_.mean.data());
}

void FastNetwork::predict_unchecked(const float* images, int n, float* logits) {
  if (n <= 0) return;
  reserve(n, false);
  const int nc = chunk_count(n);
  const int classes = spec_.classes();
  const int threads = threads_for(nc, double(spec_.forward_flops()) * n);
#pragma omp parallel num_threads(threads)
  {
    float* ws = ws_[std::size_t(omp_get_thread_num())].data();
#pragma omp for schedule(dynamic, 1)
    for (int q = 0; q < nc; ++q) {
      const int valid = std::min(kChunk, n - q * kChunk);
      forward_chunk(ws, images, q, valid);
      unpack_chunk(ws + plan_.act[layers_], valid, classes,
                   logits + std::size_t(q) * kChunk * classes);
    }
  }
}

std::string FastNetwork::describe() const {
  std::string s;
  for (std::size_t l = 0; l < layers_; ++l) {
    s += spec_.layers[l].text() + ": ";
    const LayerKernel* k = kernels_[l].get();
    if (!k) {
      s += "fused into the layer before\n";
      continue;
    }
    if (k->is_view()) {
      s += "view\n";
      continue;
    }
    const std::string algo = k->algorithm();
    if (!algo.empty()) s += algo + (plan_.kernel[l].fuse_relu ? " +relu" : "") + ", ";
    s += std::string(k->isa()) + "\n";
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
  f.parameter_floats = FlatLayout(spec).floats();
  f.workspace_floats = Plan(ops::active(), spec, options).workspace_floats;
  return f;
}

}  // namespace scratchcnn::fast
