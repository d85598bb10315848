// Every layer of the seed model (1x8x8) and of LeNet-5 (1x28x28) at batch 128, a sigmoid and a tanh on 120
// features each, a 2x2 average pool on 6x28x28 and a global one on 6x14x14, a strided conv 16 -> 32, 3x3,
// stride 2, pad 1 on 16x16 (im2col only: direct runs stride 1), and conv 32 -> 64, 3x3, pad 1 on 28x28 at
// batch 64, reference vs fast:
//   BM_Reference/<case>/<pass>                       the oracle, one sample at a time
//   BM_Fast/<case>/<pass>/threads:<t>                fast::Layer on chunked batches
//   BM_Fast/<case>/<algo>/<pass>/threads:<t>         convolutions, algo = im2col | direct
// passes: forward, backward (input gradient + parameter gradients), and for conv/dense also
// backward_data and backward_weights alone. The fast side runs at one thread (and at two for the
// 32 -> 64 convolution): omp_set_num_threads inside the benchmark, real time throughout.
// Counters: items_per_second (samples), GFLOP/s (LayerInfo::flops per sample and pass: a conv or
// dense backward counts one forward's FLOPs for each gradient it computes), and for conv/dense
// peak_fraction = GFLOP/s / (threads x the one-core FMA peak measured at start-up).
#include <omp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common.hpp"
#include "fast/conv_list.hpp"
#include "fast/layer.hpp"
#include "scratchcnn/error.hpp"
#include "reference/network.hpp"
#include "scratchcnn/rng.hpp"

namespace {

using namespace scratchcnn;

struct Case {
  std::string name;
  LayerSpec spec;
  LayerInfo info;
  int batch;      // fast path
  int ref_batch;  // reference path: samples per timed iteration
  std::vector<int> threads;
};

const char* kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::Conv: return "conv";
    case LayerKind::Dense: return "dense";
    case LayerKind::ReLU: return "relu";
    case LayerKind::Sigmoid: return "sigmoid";
    case LayerKind::Tanh: return "tanh";
    case LayerKind::MaxPool: return "maxpool";
    case LayerKind::AvgPool: return "avgpool";
    case LayerKind::GlobalAvgPool: return "gap";
    case LayerKind::Flatten: return "flatten";
    case LayerKind::Dropout: return "dropout";
    case LayerKind::Normalize: return "normalize";
    case LayerKind::BatchNorm: return "batchnorm";
  }
  return "?";
}

// Every layer of a model, named <model>_<kind><n-th of that kind>.
void add_model(std::vector<Case>& cases, const std::string& model, int ref_batch) {
  const ModelSpec spec = model_from_name(model);
  std::map<LayerKind, int> seen;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string name = model + "_" + kind_name(l.kind) + std::to_string(++seen[l.kind]);
    cases.push_back({name, l, spec.info[i], 128, ref_batch, {1}});
  }
}

std::vector<Case> cases() {
  std::vector<Case> c;
  add_model(c, "seed", 128);
  add_model(c, "lenet5", 16);
  const ModelSpec sig = parse_model("flatten dense(400,120) sigmoid dense(120,10)", Shape{1, 20, 20});
  c.push_back({"sigmoid120", sig.layers[2], sig.info[2], 128, 128, {1}});
  const ModelSpec th = parse_model("flatten dense(400,120) tanh dense(120,10)", Shape{1, 20, 20});
  c.push_back({"tanh120", th.layers[2], th.info[2], 128, 128, {1}});
  // Dropout in training mode: the mask drawn per element is part of the timed work.
  const ModelSpec drop = parse_model("flatten dense(400,120) dropout(0.5) dense(120,10)", Shape{1, 20, 20});
  c.push_back({"dropout120", drop.layers[2], drop.info[2], 128, 128, {1}});
  const ModelSpec norm = parse_model("normalize(mean=0.5:0.4:0.3,std=0.2:0.25:0.3) flatten dense(2352,10)",
                                     Shape{3, 28, 28});
  c.push_back({"normalize3x28", norm.layers[0], norm.info[0], 128, 16, {1}});
  // Batch norm in training mode: batch statistics over the whole batch, per channel and per feature.
  const ModelSpec bn = parse_model("batchnorm flatten dense(3136,120) batchnorm dense(120,10)", Shape{16, 14, 14});
  c.push_back({"batchnorm16x14", bn.layers[0], bn.info[0], 128, 16, {1}});
  c.push_back({"batchnorm120", bn.layers[3], bn.info[3], 128, 128, {1}});
  const ModelSpec avg = parse_model("avgpool(2) gap flatten dense(6,10)", Shape{6, 28, 28});
  c.push_back({"avgpool6x28", avg.layers[0], avg.info[0], 128, 16, {1}});
  c.push_back({"gap6x14", avg.layers[1], avg.info[1], 128, 16, {1}});
  const ModelSpec strided = parse_model("conv(16,32,k=3,stride=2,pad=1) flatten dense(2048,10)", Shape{16, 16, 16});
  c.push_back({"conv16x32_16s2", strided.layers[0], strided.info[0], 128, 16, {1}});
  const ModelSpec big = parse_model("conv(32,64,k=3,pad=1) flatten dense(50176,10)", Shape{32, 28, 28});
  c.push_back({"conv32x64_28", big.layers[0], big.info[0],
               bench::env_int("SCRATCHCNN_BENCH_BATCH", 64, 1, 1 << 16), 1,
               bench::env_threads({1, 2})});
  return c;
}

enum class Pass { Forward, Backward, BackwardData, BackwardWeights };
const char* pass_name(Pass p) {
  switch (p) {
    case Pass::Forward: return "forward";
    case Pass::Backward: return "backward";
    case Pass::BackwardData: return "backward_data";
    case Pass::BackwardWeights: return "backward_weights";
  }
  return "?";
}

// FLOPs of one sample through `pass`.
double pass_flops(const Case& c, Pass p) {
  const double f = double(c.info.flops);
  if (!c.spec.has_params()) return p == Pass::BackwardWeights ? 0 : f;
  return p == Pass::Backward ? 2 * f : f;
}

LayerParams random_params(const Case& c, Rng& rng) {
  LayerParams p;
  if (!c.spec.has_params()) return p;
  const auto nw = static_cast<std::size_t>(c.spec.weight_count());
  for (std::size_t i = 0; i < nw; ++i) p.weights.push_back(float(rng.uniform() - 0.5));
  for (int i = 0; i < c.spec.out; ++i) p.bias.push_back(float(rng.uniform() - 0.5));
  return p;
}

std::vector<float> random_vec(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = float(rng.uniform() * 2 - 1);
  return v;
}

// n samples through `pass` per timed iteration; peak_fraction for conv and dense only.
bench::Work work(const benchmark::State& state, const Case& c, Pass pass, int n, int threads) {
  const std::int64_t samples = std::int64_t(state.iterations()) * n;
  return {.flop = pass_flops(c, pass) * double(samples),
          .items = samples,
          .threads = threads,
          .peak_fraction = c.spec.kind == LayerKind::Conv || c.spec.kind == LayerKind::Dense};
}

void run_fast(benchmark::State& state, const Case& c, Pass pass, fast::ConvAlgo algo, int threads) {
  omp_set_num_threads(threads);
  Rng rng(1);
  fast::Layer layer(c.spec, c.info, random_params(c, rng), algo);
  static const DropoutKey key{1, 1};  // dropout: training mode
  layer.set_dropout(&key, 0);
  const int n = c.batch;
  fast::AlignedBuffer x(fast::chunked_size(n, c.info.in.size())), g(fast::chunked_size(n, c.info.out.size()));
  const std::vector<float> xs = random_vec(std::size_t(n) * c.info.in.size(), rng),
                           gs = random_vec(std::size_t(n) * c.info.out.size(), rng);
  fast::pack_batch(xs.data(), n, c.info.in.size(), x.data());
  fast::pack_batch(gs.data(), n, c.info.out.size(), g.data());
  layer.forward_chunked(x.data(), n);
  layer.backward_chunked(g.data());  // first touch of every buffer
  for (auto _ : state) {
    switch (pass) {
      case Pass::Forward: benchmark::DoNotOptimize(layer.forward_chunked(x.data(), n)); break;
      case Pass::Backward: benchmark::DoNotOptimize(layer.backward_chunked(g.data())); break;
      case Pass::BackwardData: benchmark::DoNotOptimize(layer.backward_chunked(g.data(), true, false)); break;
      case Pass::BackwardWeights: benchmark::DoNotOptimize(layer.backward_chunked(g.data(), false, true)); break;
    }
    benchmark::ClobberMemory();
  }
  bench::set_counters(state, work(state, c, pass, n, threads));
  std::string label = layer.kernel().algorithm();
  if (c.spec.kind == LayerKind::Conv && algo == fast::choose_conv_algo(c.spec, c.info)) label += " (auto)";
  state.SetLabel(label);
}

// The reference keeps what backward needs from the last forward of each module, so backward is
// timed on one module per sample, each after one untimed forward; gradient lists are dropped
// outside the timed region.
// Batch norm's module sees the whole batch (the batch-level hook of reference/module.hpp): one
// module, its statistics then each sample's forward; its gradient totals then each backward.
void run_reference_batchnorm(benchmark::State& state, const Case& c, Pass pass) {
  Rng rng(1);
  const LayerParams p = random_params(c, rng);
  const int n = c.ref_batch;
  std::vector<reference::Tensor<float>> xs, gs;
  for (int s = 0; s < n; ++s) {
    reference::Tensor<float> x(c.info.in), g(c.info.out);
    x.data = random_vec(x.data.size(), rng);
    g.data = random_vec(g.data.size(), rng);
    xs.push_back(std::move(x));
    gs.push_back(std::move(g));
  }
  auto m = reference::make_module<float>(c.spec, c.info, p);
  m->begin_batch(xs);
  for (auto _ : state) {
    if (pass == Pass::Forward) {
      m->begin_batch(xs);
      for (int s = 0; s < n; ++s) benchmark::DoNotOptimize(m->forward(xs[s]));
    } else {
      m->batch_gradients(gs);
      for (int s = 0; s < n; ++s) {
        m->set_sample(nullptr, 0, std::uint64_t(s));
        benchmark::DoNotOptimize(m->backward(gs[s]));
      }
      state.PauseTiming();
      m->discard_gradients();
      state.ResumeTiming();
    }
  }
  bench::set_counters(state, work(state, c, pass, n, 1));
}

void run_reference(benchmark::State& state, const Case& c, Pass pass) {
  if (c.spec.kind == LayerKind::BatchNorm) return run_reference_batchnorm(state, c, pass);
  Rng rng(1);
  const LayerParams p = random_params(c, rng);
  const int n = c.ref_batch;
  std::vector<std::unique_ptr<reference::Module<float>>> modules;
  std::vector<reference::Tensor<float>> xs, gs;
  for (int s = 0; s < n; ++s) {
    reference::Tensor<float> x(c.info.in), g(c.info.out);
    x.data = random_vec(x.data.size(), rng);
    g.data = random_vec(g.data.size(), rng);
    xs.push_back(std::move(x));
    gs.push_back(std::move(g));
    modules.push_back(reference::make_module<float>(c.spec, c.info, p));
    static const DropoutKey key{1, 1};  // dropout: training mode
    modules.back()->set_sample(&key, 0, std::uint64_t(s));
    if (pass != Pass::Forward) modules.back()->forward(xs.back());
  }
  for (auto _ : state) {
    if (pass == Pass::Forward) {
      for (int s = 0; s < n; ++s) benchmark::DoNotOptimize(modules[s]->forward(xs[s]));
    } else {
      for (int s = 0; s < n; ++s) benchmark::DoNotOptimize(modules[s]->backward(gs[s]));
      state.PauseTiming();
      for (auto& m : modules) m->discard_gradients();
      state.ResumeTiming();
    }
  }
  bench::set_counters(state, work(state, c, pass, n, 1));
}

void register_all() {
  using fast::ConvAlgo;
  for (const Case& c : cases()) {
    std::vector<Pass> passes{Pass::Forward, Pass::Backward};
    if (c.spec.has_params()) {
      passes.push_back(Pass::BackwardData);
      passes.push_back(Pass::BackwardWeights);
    }
    std::vector<ConvAlgo> algos{ConvAlgo::Auto};
    if (c.spec.kind == LayerKind::Conv) {
      algos.clear();
      for (ConvAlgo a : {ConvAlgo::Im2col, ConvAlgo::Direct}) {
        try {
          fast::conv_impl(c.spec, c.info, a);  // throws when `a` does not run the shape
          algos.push_back(a);
        } catch (const Error&) {
        }
      }
    }
    for (Pass p : passes) {
      if (p == Pass::Forward || p == Pass::Backward)
        benchmark::RegisterBenchmark(("BM_Reference/" + c.name + "/" + pass_name(p)).c_str(),
                                     [c, p](benchmark::State& s) { run_reference(s, c, p); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      for (ConvAlgo a : algos)
        for (int t : c.threads) {
          std::string name = "BM_Fast/" + c.name + "/";
          if (a != ConvAlgo::Auto) name += std::string(conv_algo_name(a)) + "/";
          name += std::string(pass_name(p)) + "/threads:" + std::to_string(t);
          benchmark::RegisterBenchmark(name.c_str(), [c, p, a, t](benchmark::State& s) { run_fast(s, c, p, a, t); })
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_main(argc, argv, /*measure_peak=*/true, register_all); }
