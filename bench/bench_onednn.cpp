// Our convolutions against oneDNN's (the 2.x C++ API of Debian's libdnnl-dev; built only when
// CMake finds it, and linked into this binary alone), in the same run, on three shapes:
//   conv32x64_28    conv 32 -> 64, 3x3, pad 1, 28x28, batch 64 (bench_layers' large convolution)
//   lenet5_conv2    conv 6 -> 16, 5x5, pad 0, 14x14, batch 128 (LeNet-5's second convolution)
//   seed_conv1      conv 1 -> 2, 3x3, pad 1, 8x8, batch 128 (the seed model's first convolution)
// Benchmarks, each for pass = forward | backward_data | backward_weights and t = 1, 2 threads:
//   BM_Ours/<case>/<pass>/threads:<t>     fast::Layer, its default algorithm, chunked batches
//   BM_OneDNN/<case>/<pass>/threads:<t>   oneDNN primitives, f32, algorithm convolution_direct,
//                                         forward_training; backward_weights with the bias gradient
// oneDNN chooses its own layouts (format `any` in every primitive descriptor); the reorders from
// and to plain NCHW/OIHW run outside the timed region, so only `execute` and the stream's wait are
// timed. Threads: omp_set_num_threads(t) before the primitives are made (Debian builds oneDNN on
// libgomp, the OpenMP runtime we use too). Real time throughout.
// Before any timing, each shape runs once through both, one thread, and the largest difference
// of the outputs, input gradients and weight and bias gradients relative to the largest magnitude
// of oneDNN's is recorded in the context (onednn_check_<case>); above 1e-3 the binary stops.
// Counters: GFLOP/s with 2*N*OC*OH*OW*IC*K*K FLOPs per pass, peak_fraction per thread.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "common.hpp"
#include "fast/layer.hpp"
#include "scratchcnn/rng.hpp"

namespace {

using namespace scratchcnn;

struct Case {
  std::string name;
  LayerSpec spec;
  LayerInfo info;
  int batch;
};

Case model_conv(const std::string& name, const std::string& model, int nth_conv, int batch) {
  const ModelSpec m = model_from_name(model);
  int seen = 0;
  for (std::size_t i = 0; i < m.layers.size(); ++i)
    if (m.layers[i].kind == LayerKind::Conv && ++seen == nth_conv) return {name, m.layers[i], m.info[i], batch};
  std::fprintf(stderr, "bench_onednn: %s has no convolution %d\n", model.c_str(), nth_conv);
  std::exit(1);
}

std::vector<Case> cases() {
  const ModelSpec big = parse_model("conv(32,64,k=3,pad=1) flatten dense(50176,10)", Shape{32, 28, 28});
  return {{"conv32x64_28", big.layers[0], big.info[0], 64},
          model_conv("lenet5_conv2", "lenet5", 2, 128),
          model_conv("seed_conv1", "seed", 1, 128)};
}

enum class Pass { Forward, BackwardData, BackwardWeights };
const char* pass_name(Pass p) {
  switch (p) {
    case Pass::Forward: return "forward";
    case Pass::BackwardData: return "backward_data";
    case Pass::BackwardWeights: return "backward_weights";
  }
  return "?";
}

// 2*N*OC*OH*OW*IC*K*K: one forward's multiply-adds, the same for each pass.
double pass_flops(const Case& c) {
  return 2.0 * c.batch * c.spec.out * double(c.info.out.h) * c.info.out.w * c.spec.in * c.spec.k * c.spec.k;
}

// The same inputs for both sides: weights, bias, input and output gradient, plain layouts.
struct Data {
  LayerParams params;
  std::vector<float> x, g;  // (N, C, H, W) sample-major
};

Data make_data(const Case& c) {
  Rng rng(1);
  auto uniform = [&rng](std::size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = float(rng.uniform() * 2 - 1);
    return v;
  };
  Data d;
  d.params.weights = uniform(std::size_t(c.spec.weight_count()));
  d.params.bias = uniform(std::size_t(c.spec.out));
  d.x = uniform(std::size_t(c.batch) * std::size_t(c.info.in.size()));
  d.g = uniform(std::size_t(c.batch) * std::size_t(c.info.out.size()));
  return d;
}

// oneDNN's three primitives for one case, their memories in oneDNN's chosen layouts (filled from
// Data by reorders when made), and the plain-layout memories results are reordered back into.
struct OneDnn {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights bwd_weights;
  std::unordered_map<int, dnnl::memory> fwd_args, data_args, weights_args;
  dnnl::memory user_dst, user_diff_src, user_diff_weights, user_diff_bias;
  std::string impl[3];  // oneDNN's implementation of each pass, e.g. "jit:avx512_core"

  // `user` (plain layout, data copied in) as a memory of layout `want`: itself, or a reordered copy.
  dnnl::memory as(dnnl::memory user, const dnnl::memory::desc& want) {
    if (user.get_desc() == want) return user;
    dnnl::memory m(want, eng);
    dnnl::reorder(user, m).execute(strm, user, m);
    return m;
  }
  // A memory of layout `want` whose results go back to `user` (see to_user).
  dnnl::memory output(const dnnl::memory& user, const dnnl::memory::desc& want) {
    return user.get_desc() == want ? user : dnnl::memory(want, eng);
  }
  void to_user(dnnl::memory& got, dnnl::memory& user) {
    if (got.get_desc() != user.get_desc()) dnnl::reorder(got, user).execute(strm, got, user);
  }

  OneDnn(const Case& c, Data& d) {
    using dnnl::memory;
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    const memory::dims src_dims{c.batch, c.spec.in, c.info.in.h, c.info.in.w},
        wei_dims{c.spec.out, c.spec.in, c.spec.k, c.spec.k}, bias_dims{c.spec.out},
        dst_dims{c.batch, c.spec.out, c.info.out.h, c.info.out.w}, strides{1, 1},
        padding{c.spec.pad, c.spec.pad};
    const memory::desc src_any(src_dims, f32, tag::any), wei_any(wei_dims, f32, tag::any),
        bias_any(bias_dims, f32, tag::any), dst_any(dst_dims, f32, tag::any);
    const dnnl::convolution_forward::primitive_desc fwd_pd(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src_any, wei_any, bias_any, dst_any,
         strides, padding, padding},
        eng);
    const dnnl::convolution_backward_data::primitive_desc data_pd(
        {dnnl::algorithm::convolution_direct, src_any, wei_any, dst_any, strides, padding, padding}, eng, fwd_pd);
    const dnnl::convolution_backward_weights::primitive_desc weights_pd(
        {dnnl::algorithm::convolution_direct, src_any, wei_any, bias_any, dst_any, strides, padding, padding}, eng,
        fwd_pd);
    impl[int(Pass::Forward)] = fwd_pd.impl_info_str();
    impl[int(Pass::BackwardData)] = data_pd.impl_info_str();
    impl[int(Pass::BackwardWeights)] = weights_pd.impl_info_str();
    fwd = dnnl::convolution_forward(fwd_pd);
    bwd_data = dnnl::convolution_backward_data(data_pd);
    bwd_weights = dnnl::convolution_backward_weights(weights_pd);

    memory user_src({src_dims, f32, tag::nchw}, eng, d.x.data()),
        user_wei({wei_dims, f32, tag::oihw}, eng, d.params.weights.data()),
        user_bias({bias_dims, f32, tag::x}, eng, d.params.bias.data()),
        user_diff_dst({dst_dims, f32, tag::nchw}, eng, d.g.data());
    user_dst = memory({dst_dims, f32, tag::nchw}, eng);
    user_diff_src = memory({src_dims, f32, tag::nchw}, eng);
    user_diff_weights = memory({wei_dims, f32, tag::oihw}, eng);
    user_diff_bias = memory({bias_dims, f32, tag::x}, eng);

    fwd_args = {{DNNL_ARG_SRC, as(user_src, fwd_pd.src_desc())},
                {DNNL_ARG_WEIGHTS, as(user_wei, fwd_pd.weights_desc())},
                {DNNL_ARG_BIAS, as(user_bias, fwd_pd.bias_desc())},
                {DNNL_ARG_DST, output(user_dst, fwd_pd.dst_desc())}};
    data_args = {{DNNL_ARG_DIFF_DST, as(user_diff_dst, data_pd.diff_dst_desc())},
                 {DNNL_ARG_WEIGHTS, as(user_wei, data_pd.weights_desc())},
                 {DNNL_ARG_DIFF_SRC, output(user_diff_src, data_pd.diff_src_desc())}};
    weights_args = {{DNNL_ARG_SRC, as(user_src, weights_pd.src_desc())},
                    {DNNL_ARG_DIFF_DST, as(user_diff_dst, weights_pd.diff_dst_desc())},
                    {DNNL_ARG_DIFF_WEIGHTS, output(user_diff_weights, weights_pd.diff_weights_desc())},
                    {DNNL_ARG_DIFF_BIAS, output(user_diff_bias, weights_pd.diff_bias_desc())}};
    strm.wait();
  }

  void run(Pass p) {
    switch (p) {
      case Pass::Forward: fwd.execute(strm, fwd_args); break;
      case Pass::BackwardData: bwd_data.execute(strm, data_args); break;
      case Pass::BackwardWeights: bwd_weights.execute(strm, weights_args); break;
    }
    strm.wait();
  }

  // Every pass once, results in the plain user memories.
  void run_all_to_user() {
    for (Pass p : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeights}) run(p);
    to_user(fwd_args[DNNL_ARG_DST], user_dst);
    to_user(data_args[DNNL_ARG_DIFF_SRC], user_diff_src);
    to_user(weights_args[DNNL_ARG_DIFF_WEIGHTS], user_diff_weights);
    to_user(weights_args[DNNL_ARG_DIFF_BIAS], user_diff_bias);
    strm.wait();
  }
};

std::vector<float> values(const dnnl::memory& m) {
  const auto* p = static_cast<const float*>(m.get_data_handle());
  return {p, p + m.get_desc().get_size() / sizeof(float)};
}

// max |a - b| / max |b|.
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, mag = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
    mag = std::max(mag, std::fabs(double(b[i])));
  }
  return mag > 0 ? diff / mag : diff;
}

// Both sides once on the same data; the worst relative difference over the four results.
double check(const Case& c) {
  omp_set_num_threads(1);
  Data d = make_data(c);
  OneDnn dn(c, d);
  dn.run_all_to_user();
  fast::Layer ours(c.spec, c.info, d.params);
  const std::vector<float> y = ours.forward(d.x.data(), c.batch);
  const std::vector<float> gx = ours.backward(d.g.data());
  const LayerParams& gp = ours.gradient_sums();
  return std::max({rel_diff(y, values(dn.user_dst)), rel_diff(gx, values(dn.user_diff_src)),
                   rel_diff(gp.weights, values(dn.user_diff_weights)), rel_diff(gp.bias, values(dn.user_diff_bias))});
}

bench::Work work(const benchmark::State& state, const Case& c, int threads) {
  return {.flop = pass_flops(c) * double(state.iterations()),
          .items = std::int64_t(state.iterations()) * c.batch,
          .threads = threads,
          .peak_fraction = true};
}

// As bench_layers' BM_Fast: fast::Layer with its default algorithm on a chunked batch.
void run_ours(benchmark::State& state, const Case& c, Pass pass, int threads) {
  omp_set_num_threads(threads);
  Data d = make_data(c);
  fast::Layer layer(c.spec, c.info, d.params);
  const int n = c.batch;
  fast::AlignedBuffer x(fast::chunked_size(n, c.info.in.size())), g(fast::chunked_size(n, c.info.out.size()));
  fast::pack_batch(d.x.data(), n, c.info.in.size(), x.data());
  fast::pack_batch(d.g.data(), n, c.info.out.size(), g.data());
  layer.forward_chunked(x.data(), n);
  layer.backward_chunked(g.data());  // first touch of every buffer
  for (auto _ : state) {
    switch (pass) {
      case Pass::Forward: benchmark::DoNotOptimize(layer.forward_chunked(x.data(), n)); break;
      case Pass::BackwardData: benchmark::DoNotOptimize(layer.backward_chunked(g.data(), true, false)); break;
      case Pass::BackwardWeights: benchmark::DoNotOptimize(layer.backward_chunked(g.data(), false, true)); break;
    }
    benchmark::ClobberMemory();
  }
  bench::set_counters(state, work(state, c, threads));
  state.SetLabel(layer.kernel().algorithm());
}

void run_onednn(benchmark::State& state, const Case& c, Pass pass, int threads) {
  omp_set_num_threads(threads);
  Data d = make_data(c);
  OneDnn dn(c, d);
  dn.run(Pass::Forward);
  dn.run(Pass::BackwardData);
  dn.run(Pass::BackwardWeights);  // first touch, and oneDNN's JIT kernels made
  for (auto _ : state) dn.run(pass);
  bench::set_counters(state, work(state, c, threads));
  state.SetLabel(dn.impl[int(pass)]);
}

void register_all() {
  for (const Case& c : cases()) {
    const double diff = check(c);
    char text[64];
    std::snprintf(text, sizeof text, "%.3g", diff);
    std::fprintf(stderr, "bench_onednn: %s: ours vs oneDNN, max relative difference %s\n", c.name.c_str(), text);
    benchmark::AddCustomContext("onednn_check_" + c.name, text);
    if (!(diff <= 1e-3)) {
      std::fprintf(stderr, "bench_onednn: %s: results differ by more than 1e-3; not timing\n", c.name.c_str());
      std::exit(1);
    }
  }
  const dnnl_version_t* v = dnnl_version();
  benchmark::AddCustomContext("onednn_version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                                    std::to_string(v->patch));
  for (const Case& c : cases())
    for (Pass p : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeights})
      for (int t : bench::env_threads({1, 2})) {
        const std::string tail = c.name + "/" + pass_name(p) + "/threads:" + std::to_string(t);
        benchmark::RegisterBenchmark(("BM_Ours/" + tail).c_str(),
                                     [c, p, t](benchmark::State& s) { run_ours(s, c, p, t); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("BM_OneDNN/" + tail).c_str(),
                                     [c, p, t](benchmark::State& s) { run_onednn(s, c, p, t); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_main(argc, argv, /*measure_peak=*/true, register_all); }
