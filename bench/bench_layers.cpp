// Per-layer and whole-step speed, reference vs fast, at the seed and LeNet-5 shapes and the
// conv 32 -> 64, 3x3, 28x28, batch 64 shape.
//   BM_Reference/<layer>/<pass>  the oracle, one sample at a time (as the trainer runs it)
//   BM_Fast/<layer>/<pass>       fast::Layer on chunked batches (no packing in the timed region)
//   passes: forward, backward (data + weights), backward_data, backward_weights
//   BM_*/train_step/<model>      one Network::train_step at batch 128
// Counters: GFLOP/s (LayerInfo::flops; a backward pass of conv/dense counts one forward's FLOPs
// per pass it runs) and items_per_second (samples). The fast side runs OpenMP threads
// (OMP_NUM_THREADS), so every benchmark uses real time.
#include <omp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "scratchcnn/fast/layer.hpp"
#include "scratchcnn/fast/network.hpp"
#include "scratchcnn/reference/network.hpp"
#include "scratchcnn/rng.hpp"

namespace {

using namespace scratchcnn;

struct Case {
  std::string name;
  LayerSpec spec;
  LayerInfo info;
  int batch;      // fast path
  int ref_batch;  // reference path (the big convolution is too slow for a full batch)
};

LayerInfo infer(const LayerSpec& l, Shape in) {
  LayerInfo i;
  i.in = in;
  switch (l.kind) {
    case LayerKind::Conv:
      i.out = Shape{l.out, in.h + 2 * l.pad - l.k + 1, in.w + 2 * l.pad - l.k + 1, false};
      i.flops = 2 * std::int64_t(i.out.size()) * l.in * l.k * l.k;
      break;
    case LayerKind::Dense:
      i.out = Shape{l.out, 1, 1, true};
      i.flops = 2 * std::int64_t(l.out) * l.in;
      break;
    case LayerKind::MaxPool:
      i.out = Shape{in.c, in.h / l.k, in.w / l.k, false};
      i.flops = in.size();
      break;
    case LayerKind::Flatten: i.out = Shape{int(in.size()), 1, 1, true}; break;
    default:
      i.out = in;
      i.flops = in.size();
  }
  return i;
}

LayerSpec conv(int in, int out, int k, int pad) {
  LayerSpec l;
  l.kind = LayerKind::Conv;
  l.in = in;
  l.out = out;
  l.k = k;
  l.pad = pad;
  return l;
}
LayerSpec dense(int in, int out) {
  LayerSpec l;
  l.kind = LayerKind::Dense;
  l.in = in;
  l.out = out;
  return l;
}
LayerSpec simple(LayerKind kind, int k = 0) {
  LayerSpec l;
  l.kind = kind;
  l.k = k;
  return l;
}

std::vector<Case> cases() {
  const Shape img8{1, 8, 8, false}, img28{1, 28, 28, false};
  std::vector<Case> c;
  auto add = [&c](const std::string& name, const LayerSpec& l, Shape in, int batch, int ref_batch) {
    c.push_back({name, l, infer(l, in), batch, ref_batch});
  };
  add("seed_conv1", conv(1, 2, 3, 1), img8, 128, 128);
  add("seed_conv2", conv(2, 4, 3, 1), Shape{2, 8, 8, false}, 128, 128);
  add("seed_relu", simple(LayerKind::ReLU), Shape{4, 8, 8, false}, 128, 128);
  add("seed_maxpool", simple(LayerKind::MaxPool, 2), Shape{4, 8, 8, false}, 128, 128);
  add("seed_dense1", dense(64, 32), Shape{64, 1, 1, true}, 128, 128);
  add("seed_dense2", dense(32, 10), Shape{32, 1, 1, true}, 128, 128);
  add("lenet5_conv1", conv(1, 6, 5, 2), img28, 128, 16);
  add("lenet5_conv2", conv(6, 16, 5, 0), Shape{6, 14, 14, false}, 128, 16);
  add("lenet5_maxpool1", simple(LayerKind::MaxPool, 2), Shape{6, 28, 28, false}, 128, 16);
  add("lenet5_dense1", dense(400, 120), Shape{400, 1, 1, true}, 128, 16);
  add("lenet5_dense2", dense(120, 84), Shape{120, 1, 1, true}, 128, 16);
  add("lenet5_sigmoid", simple(LayerKind::Sigmoid), Shape{120, 1, 1, true}, 128, 16);
  add("conv32x64_28", conv(32, 64, 3, 1), Shape{32, 28, 28, false}, 64, 1);
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
  switch (p) {
    case Pass::Forward: return f;
    case Pass::Backward: return 2 * f;
    default: return f;
  }
}

LayerParams random_params(const Case& c, Rng& rng) {
  LayerParams p;
  if (!c.spec.has_params()) return p;
  const std::size_t nw = c.spec.kind == LayerKind::Conv
                             ? std::size_t(c.spec.out) * c.spec.in * c.spec.k * c.spec.k
                             : std::size_t(c.spec.out) * c.spec.in;
  for (std::size_t i = 0; i < nw; ++i) p.weights.push_back(float(rng.uniform() - 0.5));
  for (int i = 0; i < c.spec.out; ++i) p.bias.push_back(float(rng.uniform() - 0.5));
  return p;
}

std::vector<float> random_vec(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = float(rng.uniform() * 2 - 1);
  return v;
}

void set_counters(benchmark::State& state, double flops_per_sample, int n) {
  state.SetItemsProcessed(std::int64_t(state.iterations()) * n);
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_sample * n * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = omp_get_max_threads();
}

void run_fast(benchmark::State& state, const Case& c, Pass pass, fast::ConvAlgo algo) {
  Rng rng(1);
  fast::Layer layer(c.spec, c.info, random_params(c, rng), algo);
  const int n = c.batch;
  fast::AlignedBuffer x(fast::chunked_size(n, c.info.in.size())),
      g(fast::chunked_size(n, c.info.out.size()));
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
      case Pass::BackwardData:
        benchmark::DoNotOptimize(layer.backward_chunked(g.data(), true, false));
        break;
      case Pass::BackwardWeights:
        benchmark::DoNotOptimize(layer.backward_chunked(g.data(), false, true));
        break;
    }
    benchmark::ClobberMemory();
  }
  set_counters(state, pass_flops(c, pass), n);
  state.SetLabel(layer.kernel().algorithm());
}

void run_reference(benchmark::State& state, const Case& c, Pass pass) {
  Rng rng(1);
  auto m = reference::make_module<float>(c.spec, c.info, random_params(c, rng));
  const int n = c.ref_batch;
  std::vector<reference::Tensor<float>> xs, gs;
  for (int s = 0; s < n; ++s) {
    reference::Tensor<float> x(c.info.in), g(c.info.out);
    x.data = random_vec(x.data.size(), rng);
    g.data = random_vec(g.data.size(), rng);
    xs.push_back(std::move(x));
    gs.push_back(std::move(g));
  }
  for (auto _ : state) {
    for (int s = 0; s < n; ++s) {
      if (pass == Pass::Forward) {
        benchmark::DoNotOptimize(m->forward(xs[s]));
      } else {
        state.PauseTiming();
        m->forward(xs[s]);
        state.ResumeTiming();
        benchmark::DoNotOptimize(m->backward(gs[s]));
      }
    }
    state.PauseTiming();
    m->discard_gradients();
    state.ResumeTiming();
  }
  set_counters(state, pass_flops(c, pass), n);
}

// One training step of a whole model at batch 128 on random data.
void run_step(benchmark::State& state, const std::string& model, bool fast_path) {
  const ModelSpec spec = model_from_name(model);
  const Parameters p = Parameters::he_uniform(spec, 1);
  std::unique_ptr<scratchcnn::Network> net;
  if (fast_path)
    net = fast::make_network(spec, p);
  else
    net = std::make_unique<reference::Network<float>>(spec, p);
  Rng rng(2);
  const int n = 128;
  std::vector<float> x(std::size_t(n) * spec.input.size());
  for (float& v : x) v = float(rng.uniform());
  std::vector<int> labels(n);
  for (int& l : labels) l = int(rng.below(std::uint64_t(spec.classes())));
  for (auto _ : state) benchmark::DoNotOptimize(net->train_step(Batch{x.data(), labels.data(), n}, 0.01f));
  set_counters(state, double(spec.train_flops()), n);
}

void register_all() {
  for (const Case& c : cases()) {
    std::vector<Pass> passes{Pass::Forward, Pass::Backward};
    if (c.spec.has_params()) {
      passes.push_back(Pass::BackwardData);
      passes.push_back(Pass::BackwardWeights);
    }
    for (Pass p : passes) {
      const std::string tail = c.name + "/" + pass_name(p);
      if (p == Pass::Forward || p == Pass::Backward)
        benchmark::RegisterBenchmark(("BM_Reference/" + tail).c_str(),
                                     [c, p](benchmark::State& s) { run_reference(s, c, p); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      benchmark::RegisterBenchmark(("BM_Fast/" + tail).c_str(), [c, p](benchmark::State& s) {
        run_fast(s, c, p, fast::ConvAlgo::Auto);
      })->Unit(benchmark::kMicrosecond)->UseRealTime();
      if (c.spec.kind == LayerKind::Conv)
        for (fast::ConvAlgo a : {fast::ConvAlgo::Direct, fast::ConvAlgo::Im2col})
          benchmark::RegisterBenchmark(
              ("BM_FastAlgo/" + c.name + "/" + fast::conv_algo_name(a) + "/" + pass_name(p)).c_str(),
              [c, p, a](benchmark::State& s) { run_fast(s, c, p, a); })
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
    }
  }
  for (const char* model : {"seed", "lenet5"})
    for (bool f : {false, true})
      benchmark::RegisterBenchmark(
          (std::string(f ? "BM_Fast" : "BM_Reference") + "/train_step/" + model).c_str(),
          [model, f](benchmark::State& s) { run_step(s, model, f); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
