#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scratchcnn/files.hpp"

namespace scratchcnn::data {

// The most classes a data set may have (labels are stored in two bytes where it matters: the
// checkpoint's data fingerprint) and the fewest an image folder may have.
inline constexpr int kMaxClasses = 65535;

// Samples in memory: images n x (c*h*w) floats scaled to [0, 1], labels n ints in [0, classes).
struct Dataset {
  int c = 1, h = 8, w = 8;
  int classes = 10;
  std::vector<float> images;
  std::vector<int> labels;
  std::string source;  // where it came from, for messages
  // The name of each class (classes entries: image folders' class folders, CIFAR's label files),
  // or empty: then class i is called by its number i (optdigits, IDX, CIFAR without names).
  std::vector<std::string> class_names;

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

// ---- Images: PNG files, CIFAR batches, conversions ---------------------------------------------

// How images are shaped on loading (--channels, --resize). Applied to every format: an image
// folder's PNG files one by one as they are decoded, the other formats after loading.
struct LoadOptions {
  int channels = 0;            // 0: as the data has them; 1 or 3: converted (convert_channels)
  int resize_h = 0, resize_w = 0;  // 0: as they are; else every image resized (resize_bilinear)
  bool operator==(const LoadOptions&) const = default;
};
// "HxW" (each 1..kMaxImageSide) as --resize takes it; throws Error naming `what` otherwise.
void parse_resize(const std::string& text, LoadOptions& into, const std::string& what);

// The largest side and the most values (width x height x channels, as stored) of one PNG file.
inline constexpr int kMaxImageSide = 1 << 14;
inline constexpr std::uint64_t kMaxImageValues = std::uint64_t(1) << 26;

// One image: c x h x w floats (channel-planar), in [0, 1].
struct Picture {
  int c = 0, h = 0, w = 0;
  std::vector<float> pixels;
};

// What a PNG file's header (signature and IHDR chunk, its first 33 bytes) says.
struct PngHeader {
  int width = 0, height = 0;
  int bit_depth = 0;   // 1, 2, 4, 8 or 16
  int color_type = 0;  // 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGB + alpha
  bool interlaced = false;
  int channels() const { return color_type == 0 || color_type == 4 ? 1 : 3; }  // alpha dropped
};
// Whether the bytes start with the 8-byte PNG signature.
bool is_png_signature(std::string_view bytes);
// The header of an opened PNG file, peeked (nothing consumed). Throws Error naming the file: not a
// PNG file, a truncated or malformed header, sides of 0 or above kMaxImageSide, more than
// kMaxImageValues values.
PngHeader read_png_header(InputFile& in);
// A whole PNG file (libpng), decoded to floats: 8-bit (and 1, 2, 4-bit gray, expanded) values
// / 255, 16-bit values / 65535; palettes expanded to RGB; alpha (an alpha channel or a tRNS chunk)
// dropped, the colour values kept as stored (no compositing, no gamma correction). c = 1 for
// gray files, 3 for RGB and palette files. The header is read first; then at most its decoded
// size plus a margin for metadata chunks (kPngSlack) is read. Errors name the file (libpng's
// message for corrupted data).
inline constexpr std::uint64_t kPngSlack = std::uint64_t(16) << 20;
Picture load_png(InputFile& in);
Picture load_png(const std::string& path);

// Gray to RGB replicates the value; RGB to gray is ITU-R BT.601 luma on the stored values:
// 0.299 R + 0.587 G + 0.114 B (in double, rounded once to float). `channels` 1 or 3; a picture
// that has them already is left as it is.
void convert_channels(Picture& p, int channels);
// Bilinear resampling with the half-pixel convention (align_corners=false; OpenCV's INTER_LINEAR
// without antialiasing, PyTorch's interpolate(mode="bilinear", align_corners=False)): output pixel
// (y, x) samples the input at sy = (y + 0.5) * in_h / out_h - 0.5 (and the same for x), clamped
// below at 0; it blends the two nearest rows and columns (the last one repeated at the edge) with
// weights from the fraction, in double, rounded once to float.
void resize_bilinear(Picture& p, int h, int w);
// Both, as the options ask (channels first, then size), on every sample of a data set.
void apply_load_options(Dataset& d, const LoadOptions& options);

// An image folder: one sub-folder per class (the class names: the sub-folders' names sorted in
// byte order; names starting with '.' are skipped), each holding that class's images as *.png
// files (the extension in any case; other files and sub-folders in a class folder are skipped,
// and counted in the Dataset's note through `skipped`). Every image must have the same size
// (unless options resize them) and the same channel count (unless options.channels converts
// them). Between 2 and kMaxClasses classes; a class folder without a PNG file is an error. The
// headers of all files are read before any is decoded, so a wrong size or the memory limit
// (check_input_size) is refused before the decoding work.
Dataset load_image_folder(const std::string& dir, const LoadOptions& options = {},
                          int* skipped = nullptr);

// CIFAR binary files: records of label byte(s) then 3072 pixel bytes, 3x32x32 channel-planar
// (red plane, green plane, blue plane, each row-major), pixels / 255.
//   CIFAR-10:  1 label byte (0..9), 3073-byte records (data_batch_1..5.bin, test_batch.bin);
//   CIFAR-100: a coarse label byte (0..19), then the fine label byte (0..99) used here, 3074-byte
//              records (train.bin, test.bin).
// The file must hold a whole number (at least one) of records, at most kMaxCifarRecords; errors
// name the file (its size, the record and label that is out of range). Read raw (no gzip: a
// label byte 0x1f followed by a pixel 0x8b is no gzip stream).
enum class Cifar { Ten, Hundred };
inline constexpr int kMaxCifarRecords = 1 << 20;
Dataset load_cifar(InputFile& in, Cifar kind);
Dataset load_cifar(const std::string& path, Cifar kind);
// The files of a CIFAR folder.
inline constexpr const char* kCifar10Files[6] = {"data_batch_1.bin", "data_batch_2.bin",
                                                 "data_batch_3.bin", "data_batch_4.bin",
                                                 "data_batch_5.bin", "test_batch.bin"};
inline constexpr const char* kCifar100Files[2] = {"train.bin", "test.bin"};
// The optional class-name files: one name per line (blank lines skipped), 10 or 100 of them.
inline constexpr const char* kCifar10Names = "batches.meta.txt";
inline constexpr const char* kCifar100Names = "fine_label_names.txt";

// A data folder, detected by the files in it, first match wins:
//   1. the UCI pair optdigits.tra + optdigits.tes (8x8, pixels / 16);
//   2. the four IDX files of kIdxFiles, plain or .gz (MNIST, Fashion-MNIST: 28x28, pixels / 255),
//      train-* for training and t10k-* for test;
//   3. digits.csv.gz or digits.csv (the 1,797 optdigits test rows), split by stratified_split(seed);
//   4. CIFAR-10: the six files of kCifar10Files (data_batch_1..5 for training, test_batch for
//      test), class names from batches.meta.txt when it is there;
//   5. CIFAR-100: train.bin + test.bin, fine labels, class names from fine_label_names.txt;
//   6. an image folder: train/ and test/ sub-folders, each an image folder (load_image_folder)
//      with the same class list; or, without those two, `dir` itself an image folder, split by
//      stratified_split(seed) 80/20.
// `options` shape the images of every format (apply_load_options). Throws Error saying what it
// looked for and what was missing.
Split load_data_dir(const std::string& dir, std::uint64_t seed, const LoadOptions& options = {});

// The files of `dir` that load_data_dir may read and that exist (a symlink counts by its target):
// optdigits.tra, optdigits.tes, each of kIdxFiles plain and .gz, digits.csv and digits.csv.gz, the
// CIFAR files and their name files; each as `dir` + "/" + name. The tool refuses an output that is
// one of them. (The PNG files of an image folder are not listed: walking every class folder to
// compare outputs with them would cost more than the mistake it guards against.)
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
