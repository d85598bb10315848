#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scratchcnn {

// Size limits of a model. Shape inference computes every size in 64 bits and refuses a model
// (Error naming the layer and the quantity) that exceeds one, so that every index the kernels of
// both paths compute in int stays valid:
//   kMaxDimension     C, H and W of the input, and the channels of a convolution
//   kMaxWindow        a convolution's kernel size, stride and padding, a pool's window and stride
//   kMaxDenseSize     the inputs and the outputs of a dense layer
//   kMaxSampleValues  values per sample of the input, of every layer's output, and of a
//                     convolution's zero-padded input and padded output gradient (the fast path
//                     keeps 16 samples of them in one buffer: 2^30 floats, 4 GiB, int-indexable)
//   kMaxLayerParams   weights and biases of one layer
//   kMaxLayerFlops    forward FLOPs per sample of one layer (so that totals fit int64)
// How much memory a model needs is another matter: see memory.hpp.
inline constexpr int kMaxDimension = 1 << 16;             // 65,536
inline constexpr int kMaxWindow = 1024;
inline constexpr int kMaxDenseSize = 1 << 24;             // 16,777,216
inline constexpr std::int64_t kMaxSampleValues = std::int64_t(1) << 26;  // 67,108,864
inline constexpr std::int64_t kMaxLayerParams = std::int64_t(1) << 30;   // 1,073,741,824
inline constexpr std::int64_t kMaxLayerFlops = std::int64_t(1) << 45;

// The shape of one sample between two layers: channels x height x width, or a flat vector of
// `c` values (h = w = 1, flat = true) after `flatten` or a dense layer.
struct Shape {
  int c = 0, h = 0, w = 0;
  bool flat = false;
  std::int64_t size() const { return std::int64_t(c) * h * w; }
  std::string str() const;  // "4x4x4" or "64"
  bool operator==(const Shape&) const = default;
};

// AvgPool: average over a k x k window moved by `stride`; GlobalAvgPool ("gap"): over each whole
// channel plane, CxHxW -> Cx1x1. Dropout ("dropout(P)"): in training, each element is zeroed with
// probability P and the others scaled by 1 / (1 - P); the identity in evaluation. Normalize
// ("normalize(mean=M,std=S)", per channel "mean=M1:M2:M3,std=S1:S2:S3"): (x - mean[c]) / std[c],
// constants of the model, not parameters (training and inference alike).
enum class LayerKind {
  Conv, Dense, ReLU, Sigmoid, MaxPool, Flatten, Tanh, AvgPool, GlobalAvgPool, Dropout, Normalize,
  BatchNorm
};

struct LayerSpec {
  LayerKind kind{};
  int in = 0, out = 0;  // conv: channels, dense: features
  int k = 0;            // conv kernel size, max-pool window (= stride), average-pool window
  int pad = 0;          // conv padding
  int stride = 0;       // conv stride (0 or 1: 1), average-pool stride (0: the window, k)
  float rate = 0;       // dropout probability, 0 <= rate < 1
  // normalize: one mean and one standard deviation (> 0) for every channel, or one for all.
  std::vector<float> mean = {}, stdev = {};
  float mean_of(int channel) const { return mean.size() == 1 ? mean[0] : mean[std::size_t(channel)]; }
  float stdev_of(int channel) const { return stdev.size() == 1 ? stdev[0] : stdev[std::size_t(channel)]; }
  std::string text() const;  // canonical text, e.g. "conv(1,2,k=3,pad=1)", "conv(1,2,k=3,stride=2)"
  // A convolution's stride: 1 unless stride > 1.
  int conv_stride() const { return stride > 1 ? stride : 1; }
  bool has_params() const {
    return kind == LayerKind::Conv || kind == LayerKind::Dense || kind == LayerKind::BatchNorm;
  }
  // The one place the parameter counts are written (for a spec that passed shape inference):
  // inputs per output (He init's fan-in) in * k * k for conv and in for dense; out * fan_in()
  // weights and out biases; 0 for layers without parameters. Batch norm (whose in and out shape
  // inference sets to the channels, or features, of its input) has one scale (its "weight") and
  // one shift (its "bias") per channel, and keeps 2 x out running statistics beside them
  // (running_count; parameters.hpp).
  std::int64_t fan_in() const {
    if (kind == LayerKind::Conv) return std::int64_t(in) * k * k;
    if (kind == LayerKind::BatchNorm) return 1;
    return kind == LayerKind::Dense ? in : 0;
  }
  std::int64_t weight_count() const { return std::int64_t(out) * fan_in(); }
  std::int64_t bias_count() const { return has_params() ? out : 0; }
  std::int64_t running_count() const { return kind == LayerKind::BatchNorm ? 2 * std::int64_t(out) : 0; }
};

// What shape inference says about one layer, per sample.
struct LayerInfo {
  Shape in, out;
  std::int64_t params = 0;
  // Forward FLOPs per sample: 2 per multiply-add of conv and dense (bias adds not counted),
  // 1 per output element for relu, sigmoid, tanh and dropout, 2 for normalize and batch norm, 1 per window
  // element of each output for
  // average pooling (k * k, or H * W for gap), 1 per input element (a compare) for max-pool,
  // 0 for flatten.
  std::int64_t flops = 0;
};

// A model description: an input shape and an ordered list of layers. Data, not code.
// Constructing one through parse_model() or builtin_model() runs shape inference, so every
// ModelSpec in circulation is known to be consistent.
struct ModelSpec {
  Shape input;
  std::vector<LayerSpec> layers;
  std::vector<LayerInfo> info;  // filled by shape inference, one per layer

  std::string text() const;       // canonical layer text, e.g. "conv(1,2,k=3,pad=1) relu ..."
  std::string full_text() const;  // "1x8x8: " + text(): what a parameter file records
  int classes() const;            // size of the last layer's output
  std::int64_t param_count() const;    // learned values (weights and biases)
  std::int64_t running_count() const;  // batch norm's running statistics (not learned)
  std::int64_t forward_flops() const;   // per sample
  // Forward + backward-data + backward-weights FLOPs of one training sample (3x for the layers with
  // parameters: conv, dense and batch norm; 2x for the others).
  std::int64_t train_flops() const;
};

// The origin model's text (seed-spec.md Table I, with max-pool window 2).
inline constexpr const char* kSeedModelText =
    "conv(1,2,k=3,pad=1) relu conv(2,4,k=3,pad=1) relu maxpool(2) flatten dense(64,32) relu "
    "dense(32,10)";
inline constexpr const char* kLenet5ModelText =
    "conv(1,6,k=5,pad=2) relu maxpool(2) conv(6,16,k=5) relu maxpool(2) flatten dense(400,120) "
    "relu dense(120,84) relu dense(84,10)";
// LeNet-5 as LeCun et al. published it in 1998: tanh and 2x2 average pooling (their subsampling
// layers' trainable scale and the RBF output layer replaced by plain averages and a dense layer,
// as every modern rendering does), on 28x28 images padded to the original 32x32.
inline constexpr const char* kLenet5_1998ModelText =
    "conv(1,6,k=5,pad=2) tanh avgpool(2) conv(6,16,k=5) tanh avgpool(2) flatten dense(400,120) "
    "tanh dense(120,84) tanh dense(84,10)";

// The built-in models: a name, the model text and the input shape it is meant for.
struct BuiltinModel {
  const char* name;
  const char* text;
  Shape input;
};
// A small modern network for Fashion-MNIST: five 3x3 convolutions with batch norm, two of them
// with stride 2 (padded) in place of pooling (28x28 -> 14x14 -> 7x7), a global average pool and
// dropout before the one dense layer.
inline constexpr const char* kFashionCnnModelText =
    "conv(1,32,k=3,pad=1) batchnorm relu conv(32,64,k=3,stride=2,pad=1) batchnorm relu "
    "conv(64,64,k=3,pad=1) batchnorm relu conv(64,128,k=3,stride=2,pad=1) batchnorm relu "
    "conv(128,128,k=3,pad=1) batchnorm relu gap flatten dropout(0.2) dense(128,10)";
inline constexpr BuiltinModel kBuiltinModels[] = {
    {"seed", kSeedModelText, Shape{1, 8, 8, false}},
    {"lenet5", kLenet5ModelText, Shape{1, 28, 28, false}},
    {"lenet5-1998", kLenet5_1998ModelText, Shape{1, 28, 28, false}},
    {"fashion-cnn", kFashionCnnModelText, Shape{1, 28, 28, false}},
};
// The built-in model called `name`, or null.
const BuiltinModel* find_builtin(const std::string& name);

// Parses "CxHxW", e.g. "1x28x28", each in 1..kMaxDimension. Throws Error naming `what` on failure;
// a message that quotes the text escapes and cuts it (excerpt(), error.hpp).
Shape parse_shape(const std::string& text, const std::string& what = "--input");

// Parses a model text for an input shape and runs shape inference. Throws Error naming the layer
// (1-based index and its text), the size it expects and the size it gets, or the limit above it
// exceeds. Text from the model is quoted with excerpt() (error.hpp): escaped and cut.
ModelSpec parse_model(const std::string& text, Shape input = Shape{1, 8, 8});

// A built-in name (kBuiltinModels) with its own input shape, unless `input` overrides it; anything
// else is parsed as model text (input 1x8x8 unless overridden).
ModelSpec model_from_name(const std::string& name_or_text, const Shape* input = nullptr);

// Parses the output of ModelSpec::full_text().
ModelSpec parse_full_text(const std::string& full_text);

}  // namespace scratchcnn
