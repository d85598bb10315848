#include "fast/flat_params.hpp"

#include <algorithm>

namespace scratchcnn::fast {

FlatLayout::FlatLayout(const ModelSpec& spec) {
  std::size_t flat = 0;
  for (std::size_t l = 0; l < spec.layers.size(); ++l) {
    const std::size_t bias = spec.layers[l].has_params() ? std::size_t(spec.layers[l].out) : 0;
    w_off_.push_back(flat);
    flat += align_floats(std::size_t(spec.info[l].params) - bias);
    b_off_.push_back(flat);
    flat += align_floats(bias);
  }
  floats_ = std::max<std::size_t>(flat, 16);
}

void FlatLayout::pack(const Parameters& p, float* flat) const {
  std::fill(flat, flat + floats_, 0.0f);
  for (std::size_t l = 0; l < w_off_.size(); ++l) {
    std::copy(p.layers[l].weights.begin(), p.layers[l].weights.end(), flat + w_off_[l]);
    std::copy(p.layers[l].bias.begin(), p.layers[l].bias.end(), flat + b_off_[l]);
  }
}

Parameters FlatLayout::unpack(const ModelSpec& spec, const float* flat) const {
  Parameters p = Parameters::zeros(spec);
  for (std::size_t l = 0; l < w_off_.size(); ++l) {
    LayerParams& lp = p.layers[l];
    std::copy(flat + w_off_[l], flat + w_off_[l] + lp.weights.size(), lp.weights.begin());
    std::copy(flat + b_off_[l], flat + b_off_[l] + lp.bias.size(), lp.bias.begin());
  }
  return p;
}

FlatParams::FlatParams(const ModelSpec& spec, const Parameters& p)
    : layout(spec), values(layout.floats()), mean(layout.floats()), velocity(layout.floats()),
      second(layout.floats()) {
  layout.pack(p, values.data());
}

}  // namespace scratchcnn::fast
