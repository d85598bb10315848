#include "parity.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "fast/conv_list.hpp"
#include "fast/layer.hpp"
#include "scratchcnn/error.hpp"
#include "reference/network.hpp"

namespace scratchcnn::test {

namespace {

LayerCase layer_case(const LayerSpec& spec, const Shape& in, const Shape& out, bool name_shape = true) {
  LayerCase c{spec, LayerInfo{}, spec.text()};
  c.info.in = in;
  c.info.out = out;
  if (name_shape) c.name += " on " + in.str();
  return c;
}

}  // namespace

LayerCase conv_case(int cin, int cout, int k, int pad, int h, int w, int stride) {
  LayerSpec l{LayerKind::Conv, cin, cout, k, pad, stride};
  return layer_case(l, Shape{cin, h, w, false},
                    Shape{cout, (h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1,
                          false});
}

LayerCase dense_case(int nin, int nout) {
  return layer_case(LayerSpec{LayerKind::Dense, nin, nout}, Shape{nin, 1, 1, true},
                    Shape{nout, 1, 1, true}, false);
}

LayerCase pointwise_case(LayerKind kind, Shape s) {
  const Shape out = kind == LayerKind::Flatten ? Shape{int(s.size()), 1, 1, true} : s;
  return layer_case(LayerSpec{kind}, s, out);
}

LayerCase pool_case(int k, Shape s) {
  return layer_case(LayerSpec{LayerKind::MaxPool, 0, 0, k, 0}, s, Shape{s.c, s.h / k, s.w / k, false});
}

LayerCase avgpool_case(int k, int stride, Shape s) {
  return layer_case(LayerSpec{LayerKind::AvgPool, 0, 0, k, 0, stride}, s,
                    Shape{s.c, (s.h - k) / stride + 1, (s.w - k) / stride + 1, false});
}

LayerCase gap_case(Shape s) { return layer_case(LayerSpec{LayerKind::GlobalAvgPool}, s, Shape{s.c, 1, 1, false}); }

std::vector<float> ints(Rng& rng, std::size_t n, int lo, int hi, bool nonzero) {
  std::vector<float> v(n);
  for (auto& x : v) {
    int r;
    do r = lo + int(rng.below(std::uint64_t(hi - lo + 1)));
    while (nonzero && r == 0);
    x = float(r);
  }
  return v;
}

std::vector<float> reals(Rng& rng, std::size_t n, double lo, double hi) {
  std::vector<float> v(n);
  for (auto& x : v) x = float(lo + (hi - lo) * rng.uniform());
  return v;
}

std::vector<float> untied_pool_input(Rng& rng, const Shape& s, int k, int n) {
  std::vector<float> v(std::size_t(n) * s.size());
  for (int b = 0; b < n; ++b)
    for (int c = 0; c < s.c; ++c)
      for (int oy = 0; oy < s.h / k; ++oy)
        for (int ox = 0; ox < s.w / k; ++ox) {
          std::vector<int> vals(std::size_t(k) * k);
          for (std::size_t i = 0; i < vals.size(); ++i) vals[i] = int(i) - int(vals.size() / 2);
          for (std::size_t i = vals.size(); i > 1; --i) std::swap(vals[i - 1], vals[rng.below(i)]);
          for (int dy = 0; dy < k; ++dy)
            for (int dx = 0; dx < k; ++dx)
              v[std::size_t(b) * s.size() + (std::size_t(c) * s.h + oy * k + dy) * s.w + ox * k + dx] =
                  float(vals[std::size_t(dy) * k + dx]);
        }
  return v;
}

template <class T>
LayerRun run_reference(const LayerCase& c, const LayerParams& p, const std::vector<float>& x,
                       const std::vector<float>& g, int n) {
  auto m = reference::make_module<T>(c.spec, c.info, p);
  LayerRun r;
  const std::size_t fi = std::size_t(c.info.in.size()), fo = std::size_t(c.info.out.size());
  for (int s = 0; s < n; ++s) {
    reference::Tensor<T> t(c.info.in);
    for (std::size_t i = 0; i < fi; ++i) t.data[i] = T(x[s * fi + i]);
    const reference::Tensor<T> out = m->forward(t);
    for (T v : out.data) r.out.push_back(double(v));
    reference::Tensor<T> gt(c.info.out);
    for (std::size_t i = 0; i < fo; ++i) gt.data[i] = T(g[s * fo + i]);
    const reference::Tensor<T> gi = m->backward(gt);
    for (T v : gi.data) r.grad_in.push_back(double(v));
  }
  std::vector<T> w, b;
  if (m->mean_gradients(w, b)) {
    for (T v : w) r.mean_w.push_back(double(v));
    for (T v : b) r.mean_b.push_back(double(v));
  }
  return r;
}

template LayerRun run_reference<float>(const LayerCase&, const LayerParams&,
                                       const std::vector<float>&, const std::vector<float>&, int);
template LayerRun run_reference<double>(const LayerCase&, const LayerParams&,
                                        const std::vector<float>&, const std::vector<float>&, int);

FastLayerRun run_fast(const LayerCase& c, const LayerParams& p, const std::vector<float>& x,
                      const std::vector<float>& g, int n, ConvAlgo algo) {
  fast::Layer layer(c.spec, c.info, p, algo);
  FastLayerRun r;
  r.out = layer.forward(x.data(), n);
  r.grad_in = layer.backward(g.data());
  const LayerParams m = layer.mean_gradients();
  r.mean_w = m.weights;
  r.mean_b = m.bias;
  return r;
}

std::vector<ConvAlgo> algos_for(const LayerCase& c) {
  if (c.spec.kind != LayerKind::Conv) return {ConvAlgo::Auto};
  std::vector<ConvAlgo> algos;
  for (ConvAlgo a : {ConvAlgo::Direct, ConvAlgo::Im2col}) {
    try {
      fast::conv_impl(c.spec, c.info, a);  // throws when `a` does not run this shape
      algos.push_back(a);
    } catch (const Error&) {
    }
  }
  return algos;
}

std::vector<FastLayerRun> expect_layer_parity(const LayerCase& c, const LayerParams& p,
                                              const std::vector<float>& x,
                                              const std::vector<float>& g, int n, Parity mode) {
  const bool exact = mode == Parity::Exact;
  const LayerRun ref = exact ? run_reference<float>(c, p, x, g, n) : run_reference<double>(c, p, x, g, n);
  const auto expect = [exact](const std::vector<float>& fast, const std::vector<double>& want,
                              const std::string& what) {
    if (exact)
      expect_equal_values(fast, want, what);
    else
      expect_within_tolerance(fast, want, what);
  };
  std::vector<FastLayerRun> runs;
  const std::vector<ConvAlgo> algos = algos_for(c);
  EXPECT_FALSE(algos.empty()) << c.name << ": no fast implementation runs it";
  for (ConvAlgo a : algos) {
    SCOPED_TRACE(c.name + ", batch " + std::to_string(n) + ", " + conv_algo_name(a));
    runs.push_back(run_fast(c, p, x, g, n, a));
    expect(runs.back().out, ref.out, "forward");
    expect(runs.back().grad_in, ref.grad_in, "input gradient");
    expect(runs.back().mean_w, ref.mean_w, "mean weight gradient");
    expect(runs.back().mean_b, ref.mean_b, "mean bias gradient");
  }
  return runs;
}

namespace {

LayerParams integer_params(Rng& rng, const LayerSpec& l) {
  LayerParams p;
  p.weights = ints(rng, std::size_t(l.weight_count()), -2, 2);
  if (l.has_params()) p.bias = ints(rng, std::size_t(l.out), -3, 3);
  return p;
}

LayerParams real_params(Rng& rng, const LayerSpec& l) {
  LayerParams p;
  if (!l.has_params()) return p;
  const double bound = std::sqrt(6.0 / double(l.fan_in()));
  p.weights = reals(rng, std::size_t(l.weight_count()), -bound, bound);
  p.bias = reals(rng, std::size_t(l.out), -0.5, 0.5);
  return p;
}

}  // namespace

void check_layer_parity(const LayerCase& c, int n, std::uint64_t seed, Parity mode) {
  Rng rng(seed);
  const std::size_t fi = std::size_t(c.info.in.size()), fo = std::size_t(c.info.out.size());
  if (mode == Parity::Exact) {
    const LayerParams p = integer_params(rng, c.spec);
    const std::vector<float> x = c.spec.kind == LayerKind::MaxPool
                                     ? untied_pool_input(rng, c.info.in, c.spec.k, n)
                                     : ints(rng, n * fi, -3, 3, c.spec.kind == LayerKind::ReLU);
    const std::vector<float> g = ints(rng, n * fo, -2, 2);
    expect_layer_parity(c, p, x, g, n, mode);
  } else {
    const LayerParams p = real_params(rng, c.spec);
    const std::vector<float> x = reals(rng, n * fi, -2, 2);
    const std::vector<float> g = reals(rng, n * fo, -1, 1);
    expect_layer_parity(c, p, x, g, n, mode);
  }
}

std::vector<LayerCase> conv_cases() {
  return {
      conv_case(1, 2, 3, 1, 8, 8),    // seed conv 1
      conv_case(2, 4, 3, 1, 8, 8),    // seed conv 2
      conv_case(3, 4, 3, 1, 7, 5),    // odd image
      conv_case(3, 5, 1, 0, 7, 5),    // 1x1 kernel
      conv_case(3, 2, 3, 3, 7, 5),    // padding larger than needed
      conv_case(2, 3, 5, 0, 7, 9),    // kernel wider than the block
      conv_case(1, 6, 5, 2, 28, 28),  // lenet5 conv 1
      conv_case(6, 16, 5, 0, 14, 14), // lenet5 conv 2
      conv_case(20, 36, 3, 1, 6, 11), // many channels, remainder blocks
      conv_case(2, 3, 5, 4, 3, 2),    // image smaller than the kernel: every window in the border
      conv_case(3, 2, 3, 0, 3, 3),    // a single output position
      conv_case(2, 3, 3, 1, 8, 8, 2),     // stride 2, padded: the windows cover the input
      conv_case(3, 4, 3, 0, 9, 8, 2),     // stride 2: the last column is in no window
      conv_case(2, 5, 5, 2, 11, 7, 3),    // stride 3, padded, rows and columns left over
      conv_case(4, 6, 2, 0, 8, 8, 2),     // windows side by side (k = stride)
      conv_case(3, 2, 1, 1, 7, 6, 2),     // 1x1 kernel moved by 2 over a padded input
      conv_case(2, 3, 3, 1, 6, 5, 4),     // stride larger than the kernel: inputs skipped
      conv_case(16, 32, 3, 1, 16, 16, 2), // the bench_layers strided shape
  };
}
}  // namespace scratchcnn::test
