// Whole-model speed through the Network interface, reference vs fast, on synthetic data made
// in memory with a fixed seed:
//   BM_<path>/<model>/train_step[/threads:<t>]  one Network::train_step, batch 128, lr 0.1
//   BM_<path>/seed/epoch[/threads:<t>]          one epoch of 3,823 samples (the optdigits training
//                                               set's size) in batches of 128, the last one 111
//   BM_<path>/<model>/predict[/threads:<t>]     Network::predict on 128 samples
// models: seed (1x8x8), lenet5, lenet5-1998 and fashion-cnn (1x28x28; fashion-cnn on the fast path
// only: its reference step, 128 images of 67 MFLOP through per-neuron Nodes, takes tens of seconds
// and is timed per layer in bench_layers instead). The fast path runs at 1 and 2 OpenMP threads (other
// counts and the batch size: bench_env.hpp)
// (omp_set_num_threads before the network is built), so every benchmark uses real time.
// Counters: items_per_second (images), GFLOP/s (ModelSpec::train_flops or forward_flops per image,
// the figures `scratchcnn info` prints) and peak_fraction = GFLOP/s / (threads x one-core peak).
//
// Training keeps changing the weights. So that a long run keeps timing the same kind of work
// (no saturated softmax, no denormals), each benchmark restarts from the initial parameters
// outside the timer every kResetEpochs passes over its data, followed by one untimed step so
// that the restart's allocations are not timed either.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "synthetic.hpp"
#include "fast/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/rng.hpp"
#include "scratchcnn/trainer.hpp"

namespace {

using namespace scratchcnn;
using bench::Data;
using bench::synthesize;

int g_batch = 128;  // SCRATCHCNN_BENCH_BATCH (bench_env.hpp)
constexpr float kLearningRate = 0.1f;
constexpr int kSeedSamples = 3823;
constexpr int kLenetSamples = 4096;  // 32 batches; enough to keep a step from seeing one batch only
constexpr int kResetEpochs = 10;
constexpr std::uint64_t kInitSeed = 1;

enum class Path { Reference, Fast };

std::unique_ptr<scratchcnn::Network> build(Path path, const ModelSpec& spec) {
  const Parameters p = Parameters::he_uniform(spec, kInitSeed);
  if (path == Path::Fast) return fast::make_network(spec, p);
  return std::make_unique<reference::Network<float>>(spec, p);
}

// Walks the data in shuffled batches as the trainer does (epoch_order), gathering each batch into
// a contiguous buffer.
class Feeder {
 public:
  explicit Feeder(const Data& d) : d_(d) {
    images_.resize(std::size_t(g_batch) * d.features);
    labels_.resize(g_batch);
  }
  int batches_per_epoch() const { return (d_.n + g_batch - 1) / g_batch; }
  // The next batch; the epoch's order is drawn when it starts.
  Batch next() {
    if (pos_ == 0) order_ = epoch_order(d_.n, kInitSeed, ++epoch_);
    const int m = std::min(g_batch, d_.n - pos_);
    for (int i = 0; i < m; ++i) {
      const int s = order_[std::size_t(pos_ + i)];
      std::copy_n(d_.images.begin() + std::ptrdiff_t(s) * d_.features, d_.features,
                  images_.begin() + std::ptrdiff_t(i) * d_.features);
      labels_[std::size_t(i)] = d_.labels[std::size_t(s)];
    }
    pos_ += m;
    if (pos_ == d_.n) pos_ = 0;
    return Batch{images_.data(), labels_.data(), m};
  }
  int epoch() const { return epoch_; }
  bool at_epoch_start() const { return pos_ == 0; }

 private:
  const Data& d_;
  std::vector<int> order_;
  std::vector<float> images_;
  std::vector<int> labels_;
  int pos_ = 0, epoch_ = 0;
};

// `images` images of `flop_per_image` each, over all the timed iterations.
bench::Work work(std::int64_t images, double flop_per_image, int threads) {
  return {.flop = double(images) * flop_per_image, .items = images, .threads = threads};
}

// Restarts the network from its initial parameters every kResetEpochs epochs (untimed).
void maybe_reset(benchmark::State& state, Path path, const ModelSpec& spec, Feeder& feed,
                 std::unique_ptr<scratchcnn::Network>& net) {
  if (!feed.at_epoch_start() || feed.epoch() == 0 || feed.epoch() % kResetEpochs != 0) return;
  state.PauseTiming();
  net = build(path, spec);
  benchmark::DoNotOptimize(net->train_step(feed.next(), kLearningRate));
  state.ResumeTiming();
}

void bm_train_step(benchmark::State& state, Path path, const std::string& model, int threads) {
  omp_set_num_threads(threads);
  const ModelSpec spec = model_from_name(model);
  const Data d = synthesize(spec, model == "seed" ? kSeedSamples : kLenetSamples);
  Feeder feed(d);
  auto net = build(path, spec);
  benchmark::DoNotOptimize(net->train_step(feed.next(), kLearningRate));
  std::int64_t images = 0;
  for (auto _ : state) {
    maybe_reset(state, path, spec, feed, net);
    const Batch b = feed.next();
    benchmark::DoNotOptimize(net->train_step(b, kLearningRate));
    images += b.n;
  }
  // Rates from the images actually seen: the seed data's last batch of an epoch has 111.
  bench::set_counters(state, work(images, double(spec.train_flops()), threads));
}

void bm_epoch(benchmark::State& state, Path path, const std::string& model, int threads) {
  omp_set_num_threads(threads);
  const ModelSpec spec = model_from_name(model);
  const Data d = synthesize(spec, kSeedSamples);
  Feeder feed(d);
  auto net = build(path, spec);
  const int batches = feed.batches_per_epoch();
  for (auto _ : state) {
    maybe_reset(state, path, spec, feed, net);
    for (int i = 0; i < batches; ++i) benchmark::DoNotOptimize(net->train_step(feed.next(), kLearningRate));
  }
  bench::set_counters(state, work(std::int64_t(state.iterations()) * d.n, double(spec.train_flops()), threads));
}

void bm_predict(benchmark::State& state, Path path, const std::string& model, int threads) {
  omp_set_num_threads(threads);
  const ModelSpec spec = model_from_name(model);
  const Data d = synthesize(spec, g_batch);
  auto net = build(path, spec);
  std::vector<float> logits(std::size_t(g_batch) * spec.classes());
  const std::span<const float> images(d.images.data(), std::size_t(g_batch) * spec.input.size());
  net->predict(images, logits);
  for (auto _ : state) {
    net->predict(images, logits);
    benchmark::DoNotOptimize(logits.data());
    benchmark::ClobberMemory();
  }
  bench::set_counters(state, work(std::int64_t(state.iterations()) * g_batch, double(spec.forward_flops()), threads));
}

using BenchFn = void (*)(benchmark::State&, Path, const std::string&, int);

void add(const std::string& what, BenchFn fn, const std::string& model, bool reference = true) {
  if (reference)
    benchmark::RegisterBenchmark(("BM_Reference/" + model + "/" + what).c_str(),
                                 [fn, model](benchmark::State& s) { fn(s, Path::Reference, model, 1); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  for (int t : bench::env_threads({1, 2}))
    benchmark::RegisterBenchmark(("BM_Fast/" + model + "/" + what + "/threads:" + std::to_string(t)).c_str(),
                                 [fn, model, t](benchmark::State& s) { fn(s, Path::Fast, model, t); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  g_batch = bench::env_int("SCRATCHCNN_BENCH_BATCH", 128, 1, 1 << 16);
  const auto register_all = [] {
    for (const char* model : {"seed", "lenet5", "lenet5-1998", "fashion-cnn"}) {
      const bool reference = std::string(model) != "fashion-cnn";
      add("train_step", bm_train_step, model, reference);
      add("predict", bm_predict, model, reference);
    }
    add("epoch", bm_epoch, "seed");
  };
  return bench::run_main(argc, argv, /*measure_peak=*/true, register_all,
                         {{"batch", std::to_string(g_batch)},
                          {"seed_train_flops_per_image", std::to_string(model_from_name("seed").train_flops())},
                          {"lenet5_train_flops_per_image", std::to_string(model_from_name("lenet5").train_flops())},
                          {"fashion-cnn_train_flops_per_image", std::to_string(model_from_name("fashion-cnn").train_flops())}});
}
