#include "scratchcnn/parameters.hpp"

#include <algorithm>
#include <cmath>
#include <new>

#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/rng.hpp"

namespace scratchcnn {

Parameters Parameters::zeros(const ModelSpec& spec) {
  Parameters p;
  try {
    p.layers.reserve(spec.layers.size());
  } catch (const std::bad_alloc&) {
    throw Error("out of memory: could not allocate the parameters of '" + spec.full_text() + "'");
  }
  for (const auto& l : spec.layers) try {
    LayerParams lp;
    lp.weights.assign(static_cast<std::size_t>(l.weight_count()), 0.0f);
    lp.bias.assign(static_cast<std::size_t>(l.bias_count()), 0.0f);
    p.layers.push_back(std::move(lp));
  } catch (const std::bad_alloc&) {
    throw Error("out of memory: could not allocate " +
                format_bytes(std::uint64_t(spec.info[p.layers.size()].params) * sizeof(float)) +
                " for the parameters of layer " + std::to_string(p.layers.size() + 1) + " '" +
                l.text() + "'");
  }
  return p;
}

Parameters Parameters::he_uniform(const ModelSpec& spec, std::uint64_t seed) {
  Parameters p = zeros(spec);
  Rng rng(derive_seed(seed, kSeedInit));
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (l.kind == LayerKind::BatchNorm) {
      p.layers[i].weights.assign(p.layers[i].weights.size(), 1.0f);
      continue;
    }
    if (!l.has_params()) continue;
    const double bound = std::sqrt(6.0 / double(l.fan_in()));
    for (float& w : p.layers[i].weights) w = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  }
  return p.with_running(spec);
}

Parameters Parameters::with_running(const ModelSpec& spec) const {
  Parameters p = *this;
  for (std::size_t i = 0; i < spec.layers.size() && i < p.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (l.kind != LayerKind::BatchNorm || !p.layers[i].running.empty()) continue;
    p.layers[i].running.assign(std::size_t(l.running_count()), 0.0f);
    std::fill(p.layers[i].running.begin() + l.out, p.layers[i].running.end(), 1.0f);
  }
  return p;
}

std::int64_t Parameters::count() const {
  std::int64_t n = 0;
  for (const auto& l : layers) n += std::int64_t(l.weights.size() + l.bias.size());
  return n;
}

void check_parameters(const ModelSpec& spec, const Parameters& p) {
  const Parameters want = Parameters::zeros(spec);
  if (p.layers.size() != want.layers.size())
    throw Error("parameters have " + std::to_string(p.layers.size()) + " layers, model '" +
                spec.text() + "' has " + std::to_string(want.layers.size()));
  for (std::size_t i = 0; i < want.layers.size(); ++i) {
    if (p.layers[i].weights.size() != want.layers[i].weights.size() ||
        p.layers[i].bias.size() != want.layers[i].bias.size())
      throw Error("parameters of layer " + std::to_string(i + 1) + " '" + spec.layers[i].text() +
                  "': expected " + std::to_string(want.layers[i].weights.size()) + " weights and " +
                  std::to_string(want.layers[i].bias.size()) + " biases, got " +
                  std::to_string(p.layers[i].weights.size()) + " and " +
                  std::to_string(p.layers[i].bias.size()));
    const std::vector<float>& r = p.layers[i].running;
    const LayerSpec& l = spec.layers[i];
    if (!r.empty() && r.size() != std::size_t(l.running_count()))
      throw Error("parameters of layer " + std::to_string(i + 1) + " '" + l.text() + "': expected " +
                  (l.running_count() ? std::to_string(l.running_count()) + " running statistics or none"
                                     : std::string("no running statistics")) +
                  ", got " + std::to_string(r.size()));
    for (std::size_t j = 0; j < r.size(); ++j)
      if (!std::isfinite(r[j]) || (j >= std::size_t(l.out) && !(r[j] >= 0)))
        throw Error("parameters of layer " + std::to_string(i + 1) + " '" + l.text() +
                    "': running " + (j < std::size_t(l.out) ? "mean " : "variance ") +
                    std::to_string(j % std::size_t(l.out) + 1) + " is " + std::to_string(r[j]) +
                    (j < std::size_t(l.out) ? " (not finite)" : " (must be finite and >= 0)"));
  }
}

}  // namespace scratchcnn
