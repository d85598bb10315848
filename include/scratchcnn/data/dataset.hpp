#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "scratchcnn/files.hpp"

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
// Reads plain or gzip files (digits.csv.gz) line by line. Every malformed input throws Error naming
// the file and line: wrong number of fields, a non-integer, a pixel outside 0..16, a label outside
// 0..9, an empty file, a line longer than kMaxOptdigitsLine bytes, more than kMaxOptdigitsRows rows.
// "-" is standard input.
inline constexpr std::size_t kMaxOptdigitsLine = std::size_t(64) << 10;
inline constexpr int kMaxOptdigitsRows = 1 << 20;
Dataset load_optdigits(const std::string& path);
// The same from an opened input (which may have been peeked at: nothing is lost).
Dataset load_optdigits(InputFile& in);

// IDX files (the MNIST format, as in Fashion-MNIST), plain or gzip. Unsigned bytes only:
//   images: 00 00 08 03 | u32 count | u32 rows | u32 columns (big-endian) | count*rows*columns bytes
//   labels: 00 00 08 01 | u32 count | count bytes
// Pixels are scaled to [0, 1] by value / 255.0f. Every malformed input throws Error naming the file:
// wrong magic (including an images file where labels belong and the reverse), a zero dimension,
// data shorter or longer than the header says, a label outside 0..classes-1, bytes after the end
// of gzip data. The header is read first, then at most what it promises and one byte more (a plain
// regular file's size is checked against the promise before any data is read). "-" is standard
// input.
struct Images {
  int n = 0, h = 0, w = 0;
  std::vector<float> pixels;  // n x h x w, row-major
};
Images load_idx_images(const std::string& path);
Images load_idx_images(InputFile& in);
std::vector<int> load_idx_labels(const std::string& path, int classes = 10);
std::vector<int> load_idx_labels(InputFile& in, int classes = 10);
// The same, refusing right after the header when it does not promise `expected` labels (the image
// count of `images`, named in the message).
std::vector<int> load_idx_labels(InputFile& in, int classes, int expected,
                                 const std::string& images);
// An images file and its labels file as one Dataset (c = 1); throws Error naming both files when
// their counts differ.
Dataset load_idx(const std::string& images_path, const std::string& labels_path);
Dataset load_idx(InputFile& images, InputFile& labels);
// True when the file (plain or gzip) starts with an IDX magic number (00 00 08 01 or 00 00 08 03).
// False for missing or unreadable files. It opens the file itself: a FIFO or standard input would
// lose what it reads, so sniff those with is_idx on the input the loader then reads.
bool is_idx_file(const std::string& path);
// The same for an opened input (opened with InputFile::Gzip::Auto), consuming nothing: the loaders
// above then read it from its first byte.
bool is_idx(InputFile& in);

// The IDX file names of an MNIST-style folder, each found as itself or with ".gz".
inline constexpr const char* kIdxFiles[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

// A data folder, detected by the files in it, first match wins:
//   1. the UCI pair optdigits.tra + optdigits.tes (8x8, pixels / 16);
//   2. the four IDX files of kIdxFiles, plain or .gz (MNIST, Fashion-MNIST: 28x28, pixels / 255),
//      train-* for training and t10k-* for test;
//   3. digits.csv.gz or digits.csv (the 1,797 optdigits test rows), split by stratified_split(seed).
// Throws Error saying what it looked for and what was missing.
Split load_data_dir(const std::string& dir, std::uint64_t seed);

// The files of `dir` that load_data_dir may read and that exist (a symlink counts by its target):
// optdigits.tra, optdigits.tes, each of kIdxFiles plain and .gz, digits.csv and digits.csv.gz; each
// as `dir` + "/" + name. The tool refuses an output that is one of them.
std::vector<std::string> data_dir_files(const std::string& dir);

// The mean and the (population) standard deviation of every channel of `d`'s images, each over
// all samples and pixels of that channel, in double (two passes: the mean, then the squared
// deviations from it). Throws Error for an empty data set.
struct ChannelStats {
  std::vector<double> mean, stdev;
};
ChannelStats channel_stats(const Dataset& d);

// A fixed, seeded, stratified split: per class, a seeded shuffle, then the first
// round(test_fraction * count) go to test.
Split stratified_split(const Dataset& all, double test_fraction, std::uint64_t seed);

}  // namespace scratchcnn::data
