#include "onnx_models.hpp"

#include <algorithm>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/rng.hpp"

namespace scratchcnn::test {

std::vector<NamedModel> onnx_test_models() {
  std::vector<NamedModel> v;
  for (const BuiltinModel& b : kBuiltinModels) v.push_back({b.name, parse_model(b.text, b.input)});
  v.push_back({"every-layer", parse_model(kEveryLayerModelText, kEveryLayerInput)});
  return v;
}

namespace {

// One random model text for `in`; it may be one the library refuses (the caller skips those).
std::string random_model_text(Rng& rng, Shape& in) {
  const auto pick = [&](int lo, int hi) { return lo + int(rng.below(std::uint64_t(hi - lo + 1))); };
  in = Shape{pick(1, 3), pick(4, 16), 0, false};
  in.w = rng.below(2) ? in.h : pick(4, 16);
  std::string text = rng.below(2) ? "normalize(mean=0.5,std=0.25) " : "";
  int c = in.c, h = in.h, w = in.w;
  const char* pointwise[] = {"relu", "sigmoid", "tanh", "dropout(0.25)", "batchnorm"};
  for (int n = pick(1, 5); n > 0; --n) {
    switch (rng.below(5)) {
      case 0:
      case 1: {  // conv
        const int k = pick(1, std::min(5, std::min(h, w) + 2)), pad = pick(0, (k - 1) / 2 + 1);
        const int out = pick(1, 6), stride = pick(1, 2);
        text += "conv(" + std::to_string(c) + "," + std::to_string(out) + ",k=" +
                std::to_string(k) + (stride > 1 ? ",stride=" + std::to_string(stride) : std::string()) +
                (pad ? ",pad=" + std::to_string(pad) : std::string()) + ") ";
        c = out;
        if (h + 2 * pad < k || w + 2 * pad < k) return text;  // refused by parse_model
        h = (h + 2 * pad - k) / stride + 1;
        w = (w + 2 * pad - k) / stride + 1;
        break;
      }
      case 2: {  // maxpool, or avgpool with a stride
        const int k = pick(1, 3);
        if (rng.below(2)) {
          text += "maxpool(" + std::to_string(k) + ") ";
          h /= k;
          w /= k;
        } else {
          const int s = pick(1, k);
          text += "avgpool(" + std::to_string(k) + ",stride=" + std::to_string(s) + ") ";
          h = (h - k) / s + 1;
          w = (w - k) / s + 1;
        }
        break;
      }
      case 3: text += std::string(pointwise[rng.below(5)]) + " "; break;
      default:
        if (rng.below(3) == 0) {
          text += "gap ";
          h = w = 1;
        }
        break;
    }
    if (h < 1 || w < 1) return text;  // refused by parse_model
  }
  text += "flatten ";
  int features = c * h * w;
  for (int n = pick(0, 2); n > 0; --n) {
    const int out = pick(1, 20);
    text += "dense(" + std::to_string(features) + "," + std::to_string(out) + ") ";
    if (rng.below(2)) text += std::string(pointwise[rng.below(5)]) + " ";
    features = out;
  }
  text += "dense(" + std::to_string(features) + "," + std::to_string(pick(2, 10)) + ")";
  if (rng.below(4) == 0) text += " " + std::string(pointwise[rng.below(3)]);
  return text;
}

}  // namespace

std::vector<ModelSpec> random_valid_models(std::uint64_t seed, int count) {
  Rng rng(seed);
  std::vector<ModelSpec> v;
  for (int tries = 0; int(v.size()) < count && tries < 100 * count; ++tries) {
    Shape in;
    const std::string text = random_model_text(rng, in);
    try {
      v.push_back(parse_model(text, in));
    } catch (const Error&) {
      // A draw the library refuses (a window that does not fit): not a model to export.
    }
  }
  return v;
}

Parameters export_test_parameters(const ModelSpec& spec, std::uint64_t seed) {
  Parameters p = Parameters::he_uniform(spec, seed);
  Rng rng(seed ^ 0x9e3779b97f4a7c15ull);
  for (std::size_t i = 0; i < p.layers.size(); ++i) {
    LayerParams& l = p.layers[i];
    for (float& b : l.bias) b = float(rng.uniform() - 0.5);
    if (spec.layers[i].kind != LayerKind::BatchNorm) continue;
    // Batch norm: scales, running means and variances away from the identity's 1, 0 and 1.
    for (float& w : l.weights) w = float(0.5 + rng.uniform());
    const std::size_t c = l.weights.size();
    for (std::size_t j = 0; j < c; ++j) {
      l.running[j] = float(rng.uniform() - 0.5);
      l.running[c + j] = float(0.25 + rng.uniform());
    }
  }
  return p;
}

}  // namespace scratchcnn::test
