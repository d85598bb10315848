#pragma once
// The synthetic training data of the whole-model benchmarks (bench_train, bench_threads), made in
// memory with a fixed seed so that every run times the same work.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/rng.hpp"

namespace scratchcnn::bench {

inline constexpr std::uint64_t kDataSeed = 20240607;

// n samples (n x spec.input.size(), values in [0, 1]) and labels. Each class has a fixed random
// prototype; a sample is half its class's prototype and half uniform noise: learnable, but not
// to a loss of zero.
struct Data {
  std::vector<float> images;
  std::vector<int> labels;
  int n = 0;
  std::int64_t features = 0;
};

inline Data synthesize(const ModelSpec& spec, int n) {
  Rng rng(kDataSeed);
  Data d;
  d.n = n;
  d.features = spec.input.size();
  const int classes = spec.classes();
  std::vector<float> proto(std::size_t(classes) * std::size_t(d.features));
  for (float& v : proto) v = float(rng.uniform());
  d.images.resize(std::size_t(n) * std::size_t(d.features));
  d.labels.resize(std::size_t(n));
  for (int s = 0; s < n; ++s) {
    const int label = int(rng.below(std::uint64_t(classes)));
    d.labels[std::size_t(s)] = label;
    for (std::int64_t f = 0; f < d.features; ++f)
      d.images[std::size_t(s * d.features + f)] =
          float(0.5 * proto[std::size_t(label * d.features + f)] + 0.5 * rng.uniform());
  }
  return d;
}

// The same samples as a data set train() takes.
inline data::Dataset as_dataset(const ModelSpec& spec, Data d) {
  data::Dataset set;
  set.c = spec.input.c;
  set.h = spec.input.h;
  set.w = spec.input.w;
  set.classes = spec.classes();
  set.images = std::move(d.images);
  set.labels = std::move(d.labels);
  set.source = "synthetic";
  return set;
}

}  // namespace scratchcnn::bench
