// Max pooling (oracle: reference/pool.hpp).
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

}  // namespace

std::unique_ptr<LayerKernel> make_maxpool(const ops::Table& table, const LayerSpec& s,
                                          const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<MaxPool>(table, s, i);
}

}  // namespace scratchcnn::fast
