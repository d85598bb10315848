// ReLU, sigmoid and tanh (oracle: reference/pointwise.hpp).
#include <cstdint>
#include <memory>

#include "fast/kernel.hpp"
#include "fast/ops/ops.hpp"

namespace scratchcnn::fast {
namespace {

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

class Tanh final : public IsaKernel {
 public:
  using IsaKernel::IsaKernel;
  void forward(const float* in, float* out, float*) const override {
    k_.tanh_forward(in, out, std::int64_t(out_floats()));
  }
  void backward(const float*, const float* out, float* g, float* gin, float*, float*,
                float*) const override {
    if (gin) k_.tanh_backward(out, g, gin, std::int64_t(out_floats()));
  }
};

}  // namespace

std::unique_ptr<LayerKernel> make_relu(const ops::Table& table, const LayerSpec& s,
                                       const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<ReLU>(table, s, i);
}

std::unique_ptr<LayerKernel> make_sigmoid(const ops::Table& table, const LayerSpec& s,
                                          const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<Sigmoid>(table, s, i);
}

std::unique_ptr<LayerKernel> make_tanh(const ops::Table& table, const LayerSpec& s,
                                       const LayerInfo& i, const float*, const float*, bool) {
  return std::make_unique<Tanh>(table, s, i);
}

}  // namespace scratchcnn::fast
