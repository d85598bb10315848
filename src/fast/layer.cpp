// The fast path's layer kernels (one chunk at a time) and the stand-alone Layer.
#include "fast/layer.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "fast/ops/ops.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::fast {

using ops::Trans;

namespace {

// The convolution implementations, best first (docs/architecture.md, "Choosing a convolution":
// the measurements behind the order). Auto takes the first that applies to the shape; both run
// every shape the model text allows today (stride 1, any kernel, padding and channel count).
struct ConvImpl {
  ConvAlgo algo;
  bool (*applies)(const LayerSpec& spec, const LayerInfo& info);
};
constexpr ConvImpl kConvImpls[] = {
    {ConvAlgo::Direct, [](const LayerSpec& s, const LayerInfo&) { return s.kind == LayerKind::Conv; }},
    {ConvAlgo::Im2col, [](const LayerSpec& s, const LayerInfo&) { return s.kind == LayerKind::Conv; }},
};

}  // namespace

ConvAlgo choose_conv_algo(const LayerSpec& spec, const LayerInfo& info) {
  for (const ConvImpl& impl : kConvImpls)
    if (impl.applies(spec, info)) return impl.algo;
  throw Error("fast: no convolution implementation applies to " + spec.text());
}

int im2col_tile_rows(int kdim, int out_h, int out_w) {
  const std::int64_t per_row = std::int64_t(kdim) * out_w * kChunk;
  return int(std::clamp<std::int64_t>(65536 / per_row, 1, out_h));
}

namespace {

// A LayerKernel bound to the instruction-set level that was active when it was made (isa.hpp), so
// its plans and every call of one kernel (and of a network made of them) use the same level.
class IsaKernel : public LayerKernel {
 public:
  IsaKernel(const ops::Table& table, const LayerSpec& s, const LayerInfo& i)
      : LayerKernel(s, i), k_(table) {}
  const char* isa() const override { return k_.level; }

 protected:
  const ops::Table& k_;
};

// Shapes of one convolution, per chunk.
struct ConvShape {
  int cin, cout, k, pad;
  int h, w;    // input
  int oh, ow;  // output
  int hp, wp;  // padded input
  ConvShape(const LayerSpec& s, const LayerInfo& i)
      : cin(s.in), cout(s.out), k(s.k), pad(s.pad), h(i.in.h), w(i.in.w), oh(i.out.h), ow(i.out.w),
        hp(i.in.h + 2 * s.pad), wp(i.in.w + 2 * s.pad) {}
  std::size_t padded_floats() const { return pad ? std::size_t(cin) * hp * wp * kChunk : 0; }
  std::int64_t out_plane() const { return std::int64_t(oh) * ow * kChunk; }
};

// How a direct convolution runs at one shape, and the scratch it needs: computed from the shapes
// alone (w may be null), so that memory estimates (fast::footprint) see the same sizes as a kernel.
struct DirectPlan {
  bool in_place_in = true, in_place_g = true;
  ops::Correlation fwd, bwd;
  int gh = 0, gw = 0;
  std::size_t padded_in = 0, padded_g = 0, tile = 0;

  DirectPlan(const ops::Table& k_, const ConvShape& c_, const float* w) {
    const int k = c_.k;
    in_place_in = !c_.pad || k_.border_in_place(std::size_t(c_.cin) * c_.h * c_.w * kChunk);
    fwd = {.out_ch = c_.cout, .in_ch = c_.cin, .k = k, .out_h = c_.oh, .out_w = c_.ow,
           .in_h = c_.hp, .in_w = c_.wp, .offset = 0, .w = w,
           .w_out = std::ptrdiff_t(c_.cin) * k * k, .w_in = std::ptrdiff_t(k) * k, .w_ky = k,
           .w_kx = 1};
    if (in_place_in) {
      fwd.in_h = c_.h;
      fwd.in_w = c_.w;
      fwd.offset = -c_.pad;
    }
    k_.plan_correlation(fwd);
    // Input gradient = the output gradient, zero-extended by k - 1 on every side, correlated with
    // the weights transposed (in <-> out) and rotated by 180 degrees, from offset pad.
    in_place_g = k == 1 || k_.border_in_place(std::size_t(c_.cout) * c_.oh * c_.ow * kChunk);
    gh = c_.oh + 2 * (k - 1);
    gw = c_.ow + 2 * (k - 1);
    bwd = {.out_ch = c_.cin, .in_ch = c_.cout, .k = k, .out_h = c_.h, .out_w = c_.w, .in_h = gh,
           .in_w = gw, .offset = c_.pad, .w = w ? w + (k - 1) * k + (k - 1) : nullptr,
           .w_out = std::ptrdiff_t(k) * k, .w_in = std::ptrdiff_t(c_.cin) * k * k, .w_ky = -k,
           .w_kx = -1};
    if (in_place_g) {
      bwd.in_h = c_.oh;
      bwd.in_w = c_.ow;
      bwd.offset = c_.pad - (k - 1);
    }
    k_.plan_correlation(bwd);
    padded_in = in_place_in ? 0 : align_floats(c_.padded_floats());
    padded_g = in_place_g ? 0 : align_floats(std::size_t(c_.cout) * gh * gw * kChunk);
    tile = std::max(in_place_in ? k_.correlate_scratch(fwd) : 0,
                    in_place_g ? k_.correlate_scratch(bwd) : 0);
  }
  std::size_t scratch_floats() const { return padded_in + padded_g + tile; }
};

// The padding is either a zero-padded copy of the activation in scratch or, for activations
// larger than L2 (ops::border_in_place), a virtual zero border that correlate and
// conv_weight_grad read in place. Both give the same bits.
class DirectConv final : public IsaKernel {
 public:
  DirectConv(const ops::Table& table, const LayerSpec& s, const LayerInfo& i, const float* w,
             const float* b, bool relu)
      : IsaKernel(table, s, i), c_(s, i), bias_(b), relu_(relu) {
    const DirectPlan p(k_, c_, w);
    in_place_in_ = p.in_place_in;
    in_place_g_ = p.in_place_g;
    fwd_ = p.fwd;
    bwd_ = p.bwd;
    gh_ = p.gh;
    gw_ = p.gw;
    padded_in_ = p.padded_in;
    padded_g_ = p.padded_g;
    tile_ = p.tile;
  }
  std::size_t scratch_floats() const override { return padded_in_ + padded_g_ + tile_; }
  const char* algorithm() const override { return "direct"; }

  void forward(const float* in, float* out, float* scratch) const override {
    const float* src = in;
    if (!in_place_in_) {
      k_.pad_copy(in, c_.cin, c_.h, c_.w, c_.pad, scratch);
      src = scratch;
    }
    k_.correlate(fwd_, src, bias_, relu_, out, tile(scratch));
  }

  void backward(const float* in, const float* out, float* g, float* gin, float* scratch, float* gw,
                float* gb) const override {
    if (relu_) k_.relu_backward(out, g, g, std::int64_t(out_floats()));
    if (gw) {
      // The padded copy of the input, when there is one, is still in scratch from forward.
      if (in_place_in_)
        k_.conv_weight_grad(c_.cout, c_.cin, c_.k, c_.pad, c_.oh, c_.ow, c_.h, c_.w, g, in,
                                  gw, gb);
      else
        k_.conv_weight_grad(c_.cout, c_.cin, c_.k, 0, c_.oh, c_.ow, c_.hp, c_.wp, g, scratch,
                                  gw, gb);
    }
    if (gin) {
      const float* src = g;
      if (!in_place_g_) {
        float* gpad = scratch + padded_in_;
        k_.pad_copy(g, c_.cout, c_.oh, c_.ow, c_.k - 1, gpad);
        src = gpad;
      }
      k_.correlate(bwd_, src, nullptr, false, gin, tile(scratch));
    }
  }

 private:
  // scratch: padded input (padded_in_ floats), padded gradient (padded_g_), one window (tile_).
  float* tile(float* scratch) const { return scratch + padded_in_ + padded_g_; }

  ConvShape c_;
  const float* bias_;
  bool relu_;
  bool in_place_in_ = true, in_place_g_ = true;
  ops::Correlation fwd_, bwd_;
  int gh_ = 0, gw_ = 0;
  std::size_t padded_in_ = 0, padded_g_ = 0, tile_ = 0;
};

class Im2colConv final : public IsaKernel {
 public:
  Im2colConv(const ops::Table& table, const LayerSpec& s, const LayerInfo& i, const float* w,
             const float* b, bool relu)
      : IsaKernel(table, s, i), c_(s, i), w_(w), bias_(b), relu_(relu) {
    kdim_ = c_.cin * c_.k * c_.k;
    tile_rows_ = im2col_tile_rows(kdim_, c_.oh, c_.ow);
    col_floats_ = std::size_t(kdim_) * c_.ow * kChunk * tile_rows_;
  }
  static std::size_t scratch_floats(const ConvShape& c) {
    const std::size_t col = std::size_t(c.cin) * c.k * c.k * c.ow * kChunk *
                            im2col_tile_rows(c.cin * c.k * c.k, c.oh, c.ow);
    return align_floats(c.padded_floats()) + align_floats(col) + (c.pad ? c.padded_floats() : 0);
  }
  std::size_t scratch_floats() const override { return scratch_floats(c_); }
  const char* algorithm() const override { return "im2col"; }

  void forward(const float* in, float* out, float* scratch) const override {
    const float* src = in;
    if (c_.pad) {
      k_.pad_copy(in, c_.cin, c_.h, c_.w, c_.pad, scratch);
      src = scratch;
    }
    float* col = col_buffer(scratch);
    const std::int64_t plane = c_.out_plane();
    for (int y0 = 0; y0 < c_.oh; y0 += tile_rows_) {
      const int y1 = std::min(c_.oh, y0 + tile_rows_);
      const int t = (y1 - y0) * c_.ow * kChunk;
      k_.im2col(src, c_.cin, c_.k, c_.hp, c_.wp, c_.ow, y0, y1, col);
      float* o = out + std::int64_t(y0) * c_.ow * kChunk;
      k_.sgemm(Trans::No, Trans::No, c_.cout, t, kdim_, w_, kdim_, col, t, 0.0f, o, int(plane));
      k_.bias_act(o, c_.cout, t, plane, bias_, relu_);
    }
  }

  void backward(const float* in, const float* out, float* g, float* gin, float* scratch, float* gw,
                float* gb) const override {
    if (relu_) k_.relu_backward(out, g, g, std::int64_t(out_floats()));
    const float* src = c_.pad ? scratch : in;
    float* col = col_buffer(scratch);
    const std::int64_t plane = c_.out_plane();
    if (gw) {
      k_.channel_sums(g, c_.cout, plane, gb);
      for (int y0 = 0; y0 < c_.oh; y0 += tile_rows_) {
        const int y1 = std::min(c_.oh, y0 + tile_rows_);
        const int t = (y1 - y0) * c_.ow * kChunk;
        k_.im2col(src, c_.cin, c_.k, c_.hp, c_.wp, c_.ow, y0, y1, col);
        k_.sgemm(Trans::No, Trans::Yes, c_.cout, kdim_, t, g + std::int64_t(y0) * c_.ow * kChunk,
              int(plane), col, t, y0 == 0 ? 0.0f : 1.0f, gw, kdim_);
      }
    }
    if (gin) {
      float* dst = c_.pad ? col + align_floats(col_floats_) : gin;
      std::memset(dst, 0, sizeof(float) * std::size_t(c_.cin) * c_.hp * c_.wp * kChunk);
      for (int y0 = 0; y0 < c_.oh; y0 += tile_rows_) {
        const int y1 = std::min(c_.oh, y0 + tile_rows_);
        const int t = (y1 - y0) * c_.ow * kChunk;
        k_.sgemm(Trans::Yes, Trans::No, kdim_, t, c_.cout, w_, kdim_,
              g + std::int64_t(y0) * c_.ow * kChunk, int(plane), 0.0f, col, t);
        k_.col2im_add(col, c_.cin, c_.k, c_.hp, c_.wp, c_.ow, y0, y1, dst);
      }
      if (c_.pad) k_.crop_copy(dst, c_.cin, c_.h, c_.w, c_.pad, gin);
    }
  }

 private:
  float* col_buffer(float* scratch) const { return scratch + align_floats(c_.padded_floats()); }

  ConvShape c_;
  const float* w_;
  const float* bias_;
  bool relu_;
  int kdim_ = 0, tile_rows_ = 1;
  std::size_t col_floats_ = 0;
};

// out (n_out, kChunk) = W (n_out x n_in) * in (n_in, kChunk) + b: a GEMM whose columns are the
// chunk's samples, run by the correlate op as a 1x1 convolution.
class Dense final : public IsaKernel {
 public:
  Dense(const ops::Table& table, const LayerSpec& s, const LayerInfo& i, const float* w,
        const float* b, bool relu)
      : IsaKernel(table, s, i), bias_(b), relu_(relu) {
    const int nin = s.in, nout = s.out;
    fwd_ = {.out_ch = nout, .in_ch = nin, .w = w, .w_out = nin, .w_in = 1};
    bwd_ = {.out_ch = nin, .in_ch = nout, .w = w, .w_out = 1, .w_in = nin};
    k_.plan_correlation(fwd_);
    k_.plan_correlation(bwd_);
  }
  std::size_t scratch_floats() const override {
    return k_.dense_weight_grad_scratch(spec().in);
  }
  const char* algorithm() const override { return "direct"; }
  void forward(const float* in, float* out, float*) const override {
    k_.correlate(fwd_, in, bias_, relu_, out, nullptr);
  }
  void backward(const float* in, const float* out, float* g, float* gin, float* scratch, float* gw,
                float* gb) const override {
    if (relu_) k_.relu_backward(out, g, g, std::int64_t(out_floats()));
    if (gw) k_.dense_weight_grad(spec().out, spec().in, g, in, scratch, gw, gb);
    if (gin) k_.correlate(bwd_, g, nullptr, false, gin, nullptr);
  }

 private:
  const float* bias_;
  bool relu_;
  ops::Correlation fwd_, bwd_;
};

class ReLU final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  void forward(const float* in, float* out, float*) const override {
    k_.relu_forward(in, out, std::int64_t(out_floats()));
  }
  void backward(const float*, const float* out, float* g, float* gin, float*, float*,
                float*) const override {
    if (gin) k_.relu_backward(out, g, gin, std::int64_t(out_floats()));
  }
};

class Sigmoid final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  void forward(const float* in, float* out, float*) const override {
    k_.sigmoid_forward(in, out, std::int64_t(out_floats()));
  }
  void backward(const float*, const float* out, float* g, float* gin, float*, float*,
                float*) const override {
    if (gin) k_.sigmoid_backward(out, g, gin, std::int64_t(out_floats()));
  }
};

class MaxPool final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  void forward(const float* in, float* out, float*) const override {
    const Shape& s = info().in;
    k_.maxpool_forward(in, s.c, s.h, s.w, spec().k, out);
  }
  void backward(const float* in, const float* out, float* g, float* gin, float*, float*,
                float*) const override {
    const Shape& s = info().in;
    if (gin) k_.maxpool_backward(in, out, g, s.c, s.h, s.w, spec().k, gin);
  }
};

class Flatten final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  bool is_view() const override { return true; }
  void forward(const float*, float*, float*) const override {}
  void backward(const float*, const float*, float*, float*, float*, float*, float*) const override {}
};

}  // namespace

std::unique_ptr<LayerKernel> make_kernel(const LayerSpec& spec, const LayerInfo& info,
                                         const float* weights, const float* bias,
                                         const KernelOptions& options) {
  return make_kernel(ops::active(), spec, info, weights, bias, options);
}

std::size_t scratch_floats(const ops::Table& table, const LayerSpec& spec, const LayerInfo& info,
                           const KernelOptions& options) {
  switch (spec.kind) {
    case LayerKind::Conv: {
      const ConvAlgo a =
          options.conv == ConvAlgo::Auto ? choose_conv_algo(spec, info) : options.conv;
      const ConvShape c(spec, info);
      if (a == ConvAlgo::Im2col) return Im2colConv::scratch_floats(c);
      return DirectPlan(table, c, nullptr).scratch_floats();
    }
    case LayerKind::Dense: return table.dense_weight_grad_scratch(spec.in);
    default: return 0;
  }
}

std::size_t scratch_floats(const LayerSpec& spec, const LayerInfo& info,
                           const KernelOptions& options) {
  return scratch_floats(ops::active(), spec, info, options);
}

std::unique_ptr<LayerKernel> make_kernel(const ops::Table& table, const LayerSpec& spec,
                                         const LayerInfo& info, const float* weights,
                                         const float* bias, const KernelOptions& options) {
  if (options.fuse_relu && !spec.has_params())
    throw Error("fast: a ReLU can only be fused into a conv or dense layer, not " + spec.text());
  switch (spec.kind) {
    case LayerKind::Conv: {
      const ConvAlgo a =
          options.conv == ConvAlgo::Auto ? choose_conv_algo(spec, info) : options.conv;
      if (a == ConvAlgo::Im2col)
        return std::make_unique<Im2colConv>(table, spec, info, weights, bias, options.fuse_relu);
      return std::make_unique<DirectConv>(table, spec, info, weights, bias, options.fuse_relu);
    }
    case LayerKind::Dense:
      return std::make_unique<Dense>(table, spec, info, weights, bias, options.fuse_relu);
    case LayerKind::ReLU: return std::make_unique<ReLU>(table, spec, info);
    case LayerKind::Sigmoid: return std::make_unique<Sigmoid>(table, spec, info);
    case LayerKind::MaxPool: return std::make_unique<MaxPool>(table, spec, info);
    case LayerKind::Flatten: return std::make_unique<Flatten>(table, spec, info);
  }
  throw Error("fast: unknown layer kind in " + spec.text());
}

// ---- Layer --------------------------------------------------------------------------------------

Layer::Layer(const LayerSpec& spec, const LayerInfo& info, const LayerParams& params, ConvAlgo conv)
    : params_(params) {
  if (spec.has_params()) {
    const std::size_t nw = spec.kind == LayerKind::Conv
                               ? std::size_t(spec.out) * spec.in * spec.k * spec.k
                               : std::size_t(spec.out) * spec.in;
    if (params_.weights.size() != nw || params_.bias.size() != std::size_t(spec.out))
      throw Error("fast::Layer " + spec.text() + ": expected " + std::to_string(nw) +
                  " weights and " + std::to_string(spec.out) + " biases, got " +
                  std::to_string(params_.weights.size()) + " and " +
                  std::to_string(params_.bias.size()));
  }
  KernelOptions o;
  o.conv = conv;
  kernel_ = make_kernel(spec, info, params_.weights.empty() ? nullptr : params_.weights.data(),
                        params_.bias.empty() ? nullptr : params_.bias.data(), o);
  grad_sum_.weights.assign(params_.weights.size(), 0.0f);
  grad_sum_.bias.assign(params_.bias.size(), 0.0f);
  partial_stride_ = align_floats(params_.weights.size()) + align_floats(params_.bias.size());
  scratch_stride_ = align_floats(kernel_->scratch_floats());
}

Layer::~Layer() = default;

const float* Layer::forward_chunked(const float* in, int n) {
  n_ = n;
  in_ = in;
  if (kernel_->is_view()) return in;
  const int nc = chunk_count(n);
  const std::size_t fi = kernel_->in_floats(), fo = kernel_->out_floats();
  out_buf_.reserve(std::size_t(nc) * fo);
  scratch_.reserve(std::size_t(nc) * scratch_stride_);
  float* out = out_buf_.data();
  float* scratch = scratch_.data();
  const LayerKernel& k = *kernel_;
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::min(max_threads(), nc))
  for (int q = 0; q < nc; ++q) k.forward(in + q * fi, out + q * fo, scratch + q * scratch_stride_);
  return out;
}

const float* Layer::backward_chunked(const float* grad_out, bool with_grad_in,
                                    bool with_param_grads) {
  if (kernel_->is_view()) return grad_out;
  const int nc = chunk_count(n_);
  const std::size_t fi = kernel_->in_floats(), fo = kernel_->out_floats();
  if (with_grad_in) grad_in_buf_.reserve(std::size_t(nc) * fi);
  partial_.reserve(std::size_t(nc) * partial_stride_);
  float* gin = with_grad_in ? grad_in_buf_.data() : nullptr;
  float* partial = partial_.data();
  float* scratch = scratch_.data();
  const float* in = in_;
  const float* out = out_buf_.data();
  const bool params = with_param_grads && !params_.weights.empty();
  const std::size_t boff = align_floats(params_.weights.size());
  const std::size_t ps = partial_stride_;
  const LayerKernel& k = *kernel_;
  // The kernel writes grad_out only with a fused ReLU, which a Layer never has.
  float* g = const_cast<float*>(grad_out);
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::min(max_threads(), nc))
  for (int q = 0; q < nc; ++q)
    k.backward(in + q * fi, out + q * fo, g + q * fo, gin ? gin + q * fi : nullptr,
               scratch + q * scratch_stride_, params ? partial + q * ps : nullptr,
               params ? partial + q * ps + boff : nullptr);
  // Per-chunk sums added in chunk order: the same bits at any thread count.
  if (params) {
    for (std::size_t i = 0; i < grad_sum_.weights.size(); ++i) {
      float s = partial[i];
      for (int q = 1; q < nc; ++q) s += partial[q * ps + i];
      grad_sum_.weights[i] = s;
    }
    for (std::size_t i = 0; i < grad_sum_.bias.size(); ++i) {
      float s = partial[boff + i];
      for (int q = 1; q < nc; ++q) s += partial[q * ps + boff + i];
      grad_sum_.bias[i] = s;
    }
  }
  return gin;
}

std::vector<float> Layer::forward(const float* in, int n) {
  const std::int64_t fi = kernel_->info().in.size(), fo = kernel_->info().out.size();
  in_buf_.reserve(chunked_size(n, fi));
  pack_batch(in, n, fi, in_buf_.data());
  const float* out = forward_chunked(in_buf_.data(), n);
  std::vector<float> r(std::size_t(n) * fo);
  unpack_batch(out, n, fo, r.data());
  return r;
}

std::vector<float> Layer::backward(const float* grad_out) {
  const std::int64_t fi = kernel_->info().in.size(), fo = kernel_->info().out.size();
  grad_out_buf_.reserve(chunked_size(n_, fo));
  pack_batch(grad_out, n_, fo, grad_out_buf_.data());
  const float* gin = backward_chunked(grad_out_buf_.data());
  std::vector<float> r(std::size_t(n_) * fi);
  unpack_batch(gin, n_, fi, r.data());
  return r;
}

LayerParams Layer::mean_gradients() const {
  LayerParams m = grad_sum_;
  for (float& v : m.weights) v = v / float(n_);
  for (float& v : m.bias) v = v / float(n_);
  return m;
}

void Layer::update(float lr) {
  for (std::size_t i = 0; i < params_.weights.size(); ++i) {
    const float mean = grad_sum_.weights[i] / float(n_);
    params_.weights[i] = params_.weights[i] - lr * mean;
  }
  for (std::size_t i = 0; i < params_.bias.size(); ++i) {
    const float mean = grad_sum_.bias[i] / float(n_);
    params_.bias[i] = params_.bias[i] - lr * mean;
  }
}

}  // namespace scratchcnn::fast
