// Max and average pooling (oracle: reference/pool.hpp).
#include <memory>

#include "fast/kernel.hpp"
#include "fast/ops/ops.hpp"

namespace scratchcnn::fast {
namespace {

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

// avgpool(K[,stride=S]) and gap (the whole plane as one window).
class AvgPool final : public IsaKernel {
 public:
  AvgPool(const ops::Table& table, const LayerSpec& s, const LayerInfo& i) : IsaKernel(table, s, i) {
    const Shape& in = i.in;
    const bool global = s.kind == LayerKind::GlobalAvgPool;
    kh_ = global ? in.h : s.k;
    kw_ = global ? in.w : s.k;
    sh_ = global ? in.h : s.stride > 0 ? s.stride : s.k;
    sw_ = global ? in.w : sh_;
  }
  void forward(const float* in, float* out, float*) const override {
    const Shape& s = info().in;
    k_.avgpool_forward(in, s.c, s.h, s.w, kh_, kw_, sh_, sw_, out);
  }
  void backward(const float*, const float*, float* g, float* gin, float*, float*,
                float*) const override {
    const Shape& s = info().in;
    if (gin) k_.avgpool_backward(g, s.c, s.h, s.w, kh_, kw_, sh_, sw_, gin);
  }

 private:
  int kh_ = 1, kw_ = 1, sh_ = 1, sw_ = 1;
};

}  // namespace

std::unique_ptr<LayerKernel> make_avgpool(const ops::Table& table, const LayerSpec& s,
                                          const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<AvgPool>(table, s, i);
}

std::unique_ptr<LayerKernel> make_maxpool(const ops::Table& table, const LayerSpec& s,
                                          const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<MaxPool>(table, s, i);
}

}  // namespace scratchcnn::fast
