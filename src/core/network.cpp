#include "scratchcnn/network.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>

#include "fast/layout.hpp"
#include "fast/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn {

void check_batch(const ModelSpec& spec, const Batch& batch) {
  const int classes = spec.classes();
  const std::int64_t size = spec.input.size();
  if (batch.n < 1) throw Error("empty batch");
  // Batch statistics of one value per channel: a variance of 0 and no unbiased estimate.
  for (std::size_t l = 0; l < spec.layers.size(); ++l)
    if (spec.layers[l].kind == LayerKind::BatchNorm &&
        std::int64_t(batch.n) * spec.info[l].in.h * spec.info[l].in.w < 2)
      throw Error("layer " + std::to_string(l + 1) + " 'batchnorm' sees 1 value per channel in "
                  "a batch of 1 sample; training needs at least 2 (a --batch that leaves no last "
                  "batch of 1 sample)");
  // The common case first, in one pass the compiler vectorises: every label in range and no
  // input with an all-ones exponent (an infinity or a NaN). Only a batch that fails it is walked
  // again below, to name the sample and the index.
  bool labels_ok = true;
  for (int s = 0; s < batch.n; ++s) labels_ok &= batch.labels[s] >= 0 && batch.labels[s] < classes;
  std::uint32_t nonfinite = 0;
  const std::int64_t values = size * batch.n;
  for (std::int64_t i = 0; i < values; ++i)
    nonfinite |= (std::bit_cast<std::uint32_t>(batch.images[i]) & 0x7f800000u) == 0x7f800000u;
  if (labels_ok && !nonfinite) return;
  for (int s = 0; s < batch.n; ++s) {
    const int label = batch.labels[s];
    if (label < 0 || label >= classes)
      throw Error("label " + std::to_string(label) + " of sample " + std::to_string(s) +
                  " in the batch is outside 0.." + std::to_string(classes - 1));
    const float* x = batch.images + s * size;
    for (std::int64_t i = 0; i < size; ++i)
      if (!std::isfinite(x[i]))
        throw Error("sample " + std::to_string(s) + " has a non-finite input value (" +
                    (std::isnan(x[i]) ? "NaN" : "infinite") + ") at index " + std::to_string(i));
  }
}

namespace {

std::string samples_text(std::int64_t n) {
  return std::to_string(n) + " sample" + (n == 1 ? "" : "s");
}

}  // namespace

void Network::predict(std::span<const float> images, std::span<float> logits) {
  const ModelSpec& s = spec();
  const std::int64_t size = s.input.size();
  const std::int64_t classes = s.classes();
  const auto given = static_cast<std::int64_t>(images.size());
  if (given == 0 || given % size != 0)
    throw Error("predict: " + std::to_string(given) + " input values are not a whole number of " +
                s.input.str() + " samples (" + std::to_string(size) + " values each) for model '" +
                s.text() + "'");
  const std::int64_t n = given / size;
  if (n > std::numeric_limits<int>::max())
    throw Error("predict: " + samples_text(n) + " in one call; at most " +
                std::to_string(std::numeric_limits<int>::max()));
  if (static_cast<std::int64_t>(logits.size()) != n * classes)
    throw Error("predict: the logits buffer holds " + std::to_string(logits.size()) +
                " floats; " + samples_text(n) + " of " + std::to_string(classes) +
                " classes need " + std::to_string(n * classes));
  for (std::int64_t i = 0; i < given; ++i)
    if (!std::isfinite(images[static_cast<std::size_t>(i)]))
      throw Error("predict: sample " + std::to_string(i / size) + " has a non-finite input value (" +
                  (std::isnan(images[static_cast<std::size_t>(i)]) ? "NaN" : "infinite") +
                  ") at index " + std::to_string(i % size));
  predict_unchecked(images.data(), static_cast<int>(n), logits.data());
  for (std::int64_t i = 0; i < n * classes; ++i)
    if (!std::isfinite(logits[static_cast<std::size_t>(i)]))
      throw Error("predict: the logit of class " + std::to_string(i % classes) + " for sample " +
                  std::to_string(i / classes) + " is " +
                  (std::isnan(logits[static_cast<std::size_t>(i)]) ? "NaN" : "infinite") +
                  " (the parameters overflow float on this input)");
}

std::vector<float> Network::predict_one(std::span<const float> image) {
  const std::int64_t size = spec().input.size();
  if (static_cast<std::int64_t>(image.size()) != size)
    throw Error("predict: one " + spec().input.str() + " sample is " + std::to_string(size) +
                " values, got " + std::to_string(image.size()));
  std::vector<float> logits(static_cast<std::size_t>(spec().classes()));
  predict(image, logits);
  return logits;
}

PathKind parse_path(const std::string& text) {
  if (text == "reference") return PathKind::Reference;
  if (text == "fast") return PathKind::Fast;
  throw Error(excerpt(text) + " is not a path (reference or fast)");
}

const char* path_name(PathKind p) { return p == PathKind::Reference ? "reference" : "fast"; }

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Auto: return "auto";
    case ConvAlgo::Direct: return "direct";
    case ConvAlgo::Im2col: return "im2col";
  }
  return "?";
}

ConvAlgo parse_conv_algo(const std::string& text) {
  for (ConvAlgo a : {ConvAlgo::Auto, ConvAlgo::Direct, ConvAlgo::Im2col})
    if (text == conv_algo_name(a)) return a;
  throw Error(excerpt(text) + " is not a convolution algorithm (auto, direct or im2col)");
}

void check_conv_algo(ConvAlgo a, const std::string& label) {
  if (a != ConvAlgo::Auto && a != ConvAlgo::Direct && a != ConvAlgo::Im2col)
    throw Error(label + "convolution algorithm " + std::to_string(static_cast<int>(a)) +
                " is not auto, direct or im2col");
}

std::string Network::describe() const {
  std::string s;
  for (const LayerSpec& l : spec().layers) s += l.text() + ": " + name() + "\n";
  return s;
}

std::unique_ptr<Network> make_network(PathKind path, const ModelSpec& spec, const Parameters& p,
                                      const NetworkOptions& options) {
  check_parameters(spec, p);
  check_conv_algo(options.conv, "make_network: ");
  if (path == PathKind::Reference && options.group && options.group->size() > 1)
    throw Error("the reference path runs on one process; data-parallel training over " +
                std::to_string(options.group->size()) + " processes needs the fast path");
  try {
    std::unique_ptr<Network> net =
        path == PathKind::Reference ? std::make_unique<reference::Network<float>>(spec, p)
                                    : fast::make_network(spec, p, fast::options_of(options));
    net->options_ = options;
    return net;
  } catch (const std::bad_alloc&) {
    throw Error(std::string("out of memory building the ") + path_name(path) + " network of '" +
                spec.full_text() + "' (it needs an estimated " +
                format_bytes(estimate_memory(path, spec, 1, 0, MemoryUse::Inference, options).total()) +
                " before its first step)");
  }
}

int step_threads(PathKind path, const ModelSpec& spec, int batch, int threads) {
  if (path == PathKind::Reference) return 1;
  return fast::region_threads(threads, fast::chunk_count(batch), double(spec.train_flops()) * batch,
                              fast::Options{}.flops_per_thread);
}

}  // namespace scratchcnn
