#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scratchcnn::data {

// Samples in memory: images n x (c*h*w) floats scaled to [0, 1], labels n ints in [0, classes).
struct Dataset {
  int c = 1, h = 8, w = 8;
  int classes = 10;
  std::vector<float> images;
  std::vector<int> labels;
  std::string source;  // where it came from, for messages

  int size() const { return static_cast<int>(labels.size()); }
  int sample_size() const { return c * h * w; }
  const float* image(int i) const { return images.data() + std::size_t(i) * sample_size(); }
};

struct Split {
  Dataset train, test;
  std::string note;  // e.g. "only the 1,797 test rows were found: using a seeded stratified 80/20 split"
};

// One optdigits-format file: rows of 64 integers 0..16 then a label 0..9, comma-separated.
// Reads plain or gzip files (digits.csv.gz). Every malformed input throws Error naming the file and
// line: wrong number of fields, a non-integer, a pixel outside 0..16, a label outside 0..9, an empty
// file.
Dataset load_optdigits(const std::string& path);

// A data folder: the UCI pair optdigits.tra + optdigits.tes, else digits.csv or digits.csv.gz (the
// 1,797 test rows), which is split by stratified_split(seed). Throws Error saying what it looked for.
Split load_data_dir(const std::string& dir, std::uint64_t seed);

// A fixed, seeded, stratified split: per class, a seeded shuffle, then the first
// round(test_fraction * count) go to test.
Split stratified_split(const Dataset& all, double test_fraction, std::uint64_t seed);

}  // namespace scratchcnn::data
