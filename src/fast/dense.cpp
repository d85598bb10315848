// Dense layer (oracle: reference/dense.hpp).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fast/kernel.hpp"
#include "fast/ops/ops.hpp"

namespace scratchcnn::fast {
namespace {

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
  std::size_t scratch_floats() const override { return dense_scratch_floats(k_, spec()); }
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

}  // namespace

std::unique_ptr<LayerKernel> make_dense(const ops::Table& table, const LayerSpec& s,
                                        const LayerInfo& i, const float* w, const float* b,
                                        bool relu) {
  return std::make_unique<Dense>(table, s, i, w, b, relu);
}

std::size_t dense_scratch_floats(const ops::Table& table, const LayerSpec& s) {
  return table.dense_weight_grad_scratch(s.in);
}

}  // namespace scratchcnn::fast
