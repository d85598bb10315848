#pragma once
// The fast network's parameters as flat, aligned arrays: per layer its weights, then its biases,
// each starting 64-byte aligned, so a layer kernel reads them in place and the reduction and the
// update run over one array.
#include <cstddef>
#include <vector>

#include "fast/layout.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::fast {

// Where each layer's weights and biases start in a flat array.
class FlatLayout {
 public:
  explicit FlatLayout(const ModelSpec& spec);
  std::size_t floats() const { return floats_; }  // of one flat array (at least 16)
  std::size_t weights(std::size_t layer) const { return w_off_[layer]; }
  std::size_t bias(std::size_t layer) const { return b_off_[layer]; }

  // Copies p (the canonical layout, with the model's sizes) into flat; the gaps become 0.
  void pack(const Parameters& p, float* flat) const;
  // The canonical layout of a flat array.
  Parameters unpack(const ModelSpec& spec, const float* flat) const;

 private:
  std::vector<std::size_t> w_off_, b_off_;
  std::size_t floats_ = 0;
};

// The four parameter-sized arrays of a network.
struct FlatParams {
  FlatParams(const ModelSpec& spec, const Parameters& p);  // velocities and second moments 0

  FlatLayout layout;
  AlignedBuffer values;    // the parameters, read by the kernels
  AlignedBuffer mean;      // the mean gradients of the last step
  AlignedBuffer velocity;  // zero until a step with momentum (SGD) or any Adam step
  AlignedBuffer second;    // Adam's second moments, zero until an Adam step
};

}  // namespace scratchcnn::fast
