// IDX files (the MNIST format): dataset.hpp has the layout.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/files.hpp"

namespace scratchcnn::data {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr std::size_t kImagesHeader = 16;
constexpr std::size_t kLabelsHeader = 8;
// Larger images than this are not what a CNN on a CPU trains on; the bound also keeps
// count * rows * columns far from overflowing.
constexpr std::uint32_t kMaxSide = 1 << 14;

// How far past the promised data a message counts the bytes there.
constexpr std::uint64_t kCountAfter = std::uint64_t(1) << 20;
// Pixels or labels are read and converted this many bytes at a time.
constexpr std::size_t kChunk = std::size_t(1) << 20;

std::uint32_t be32(const std::string& b, std::size_t at) {
  return (std::uint32_t(static_cast<unsigned char>(b[at])) << 24) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 1])) << 16) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 2])) << 8) |
         std::uint32_t(static_cast<unsigned char>(b[at + 3]));
}

std::string hex_magic(std::uint32_t m) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", m);
  return b;
}

// Checks the 4-byte magic and names what the file is instead when it is not `want`.
void check_magic(const std::string& path, const std::string& b, std::uint32_t want) {
  const char* what = want == kImagesMagic ? "an IDX images file" : "an IDX labels file";
  if (b.size() < 4)
    throw Error(path + ": not " + std::string(what) + " (only " + std::to_string(b.size()) +
                " bytes)");
  const std::uint32_t m = be32(b, 0);
  if (m == want) return;
  std::string is;
  if (m == kLabelsMagic) is = " (it is an IDX labels file)";
  else if (m == kImagesMagic) is = " (it is an IDX images file)";
  else if ((m >> 16) == 0 && ((m >> 8) & 0xff) != 0x08)
    is = " (IDX of another element type; only unsigned bytes, type 0x08, are read)";
  else if ((m >> 8) == 0x08) is = " (IDX with " + std::to_string(m & 0xff) + " dimensions)";
  throw Error(path + ": not " + std::string(what) + ": magic number " + hex_magic(m) +
              ", expected " + hex_magic(want) + is);
}

std::string size_text(std::uint64_t n, const char* unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

std::string truncated(const std::string& name, std::uint64_t want, std::uint64_t have,
                      const std::string& promise) {
  return name + ": truncated: the header promises " + promise + " (" + size_text(want, "byte") +
         "), the file holds " + size_text(have, "byte");
}

std::string after(const std::string& name, std::uint64_t extra, const std::string& promise) {
  const std::string count = extra > kCountAfter
                                ? "more than " + size_text(kCountAfter, "byte")
                                : size_text(extra, "byte");
  return name + ": " + count + " after the " + promise +
         " the header promises (corrupted, or not an IDX file)";
}

// Reads the `want` bytes after the header, kChunk at a time, handing each chunk to `take`, and
// refuses data shorter or longer than that. Nothing past `want` + kCountAfter + 1 bytes is read:
// a header that promises little ends the reading of /dev/zero or a gzip bomb right there. When the
// size is known up front (a plain regular file) a wrong size is refused before reading.
template <class Take>
void read_body(InputFile& in, std::uint64_t want, const std::string& promise, Take take) {
  if (const auto left = in.remaining()) {
    if (*left < want) throw Error(truncated(in.name(), want, *left, promise));
    if (*left > want) throw Error(after(in.name(), *left - want, promise));
  }
  std::string buf(static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, want)), '\0');
  std::uint64_t have = 0;
  while (have < want) {
    const std::size_t ask = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), want - have));
    const std::size_t got = in.read(buf.data(), ask);
    take(reinterpret_cast<const unsigned char*>(buf.data()), got, have);
    have += got;
    if (got < ask) throw Error(truncated(in.name(), want, have, promise));
  }
  if (const std::uint64_t extra = in.skip(kCountAfter)) throw Error(after(in.name(), extra, promise));
}

std::string read_header(InputFile& in, std::size_t size, std::uint32_t magic, const char* what) {
  const std::string b = in.read(size);
  check_magic(in.name(), b, magic);
  if (b.size() < size)
    throw Error(in.name() + ": truncated: " + std::to_string(b.size()) + " bytes, shorter than the " +
                std::to_string(size) + "-byte header of " + what);
  return b;
}

}  // namespace

Images load_idx_images(const std::string& path) {
  InputFile in(path, InputFile::Gzip::Auto);
  return load_idx_images(in);
}

Images load_idx_images(InputFile& in) {
  const std::string& path = in.name();
  const std::string b = read_header(in, kImagesHeader, kImagesMagic, "an IDX images file");
  const std::uint32_t n = be32(b, 4), rows = be32(b, 8), cols = be32(b, 12);
  if (n == 0) throw Error(path + ": the header says 0 images");
  if (rows == 0 || cols == 0 || rows > kMaxSide || cols > kMaxSide)
    throw Error(path + ": wrong image dimensions " + std::to_string(rows) + "x" +
                std::to_string(cols) + " in the header (each must be 1.." +
                std::to_string(kMaxSide) + ")");
  if (n > 0x7fffffffU) throw Error(path + ": the header says " + std::to_string(n) + " images");
  const std::uint64_t want = std::uint64_t(n) * rows * cols;
  check_input_size(path, "the header's " + size_text(n, "image") + " of " + std::to_string(rows) +
                             "x" + std::to_string(cols) + " (as floats)",
                   want * sizeof(float));
  Images im;
  im.n = static_cast<int>(n);
  im.h = static_cast<int>(rows);
  im.w = static_cast<int>(cols);
  // Reserved up to what is known to be there (a gzip stream: up to 64 MiB of floats); beyond that
  // the pixels grow with the data read, never with the header's promise alone.
  const auto left = in.remaining();
  im.pixels.reserve(
      static_cast<std::size_t>(std::min<std::uint64_t>(want, left ? *left : kChunk * 16)));
  read_body(in, want,
            size_text(n, "image") + " of " + std::to_string(rows) + "x" + std::to_string(cols),
            [&](const unsigned char* src, std::size_t k, std::uint64_t) {
              const std::size_t at = im.pixels.size();
              // Grown by doubling, but never past the promise: at most what was checked.
              if (at + k > im.pixels.capacity())
                im.pixels.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(
                    want, std::max<std::uint64_t>(2 * im.pixels.capacity(), at + k))));
              im.pixels.resize(at + k);
              float* dst = im.pixels.data() + at;
              for (std::size_t i = 0; i < k; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
            });
  return im;
}

std::vector<int> load_idx_labels(const std::string& path, int classes) {
  InputFile in(path, InputFile::Gzip::Auto);
  return load_idx_labels(in, classes);
}

std::vector<int> load_idx_labels(InputFile& in, int classes) {
  return load_idx_labels(in, classes, -1, {});
}

std::vector<int> load_idx_labels(InputFile& in, int classes, int expected,
                                 const std::string& images) {
  const std::string& path = in.name();
  const std::string b = read_header(in, kLabelsHeader, kLabelsMagic, "an IDX labels file");
  const std::uint32_t n = be32(b, 4);
  if (n == 0) throw Error(path + ": the header says 0 labels");
  if (n > 0x7fffffffU) throw Error(path + ": the header says " + std::to_string(n) + " labels");
  if (expected >= 0 && n != std::uint64_t(expected))
    throw Error(images + " holds " + size_text(std::uint64_t(expected), "image") + " but " + path +
                " holds " + size_text(n, "label"));
  check_input_size(path, "the header's " + size_text(n, "label"), std::uint64_t(n) * sizeof(int));
  std::vector<int> labels;
  const auto left = in.remaining();
  labels.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, left ? *left : kChunk)));
  read_body(in, n, size_text(n, "label"),
            [&](const unsigned char* src, std::size_t k, std::uint64_t at) {
              if (labels.size() + k > labels.capacity())
                labels.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(
                    n, std::max<std::uint64_t>(2 * labels.capacity(), labels.size() + k))));
              for (std::size_t i = 0; i < k; ++i) {
                const int v = src[i];
                if (v >= classes)
                  throw Error(path + ": label of sample " + std::to_string(at + i) + " (byte " +
                              std::to_string(kLabelsHeader + at + i) + ") is " +
                              std::to_string(v) + ", outside 0.." + std::to_string(classes - 1));
                labels.push_back(v);
              }
            });
  return labels;
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  InputFile images(images_path, InputFile::Gzip::Auto);
  InputFile labels(labels_path, InputFile::Gzip::Auto);
  return load_idx(images, labels);
}

Dataset load_idx(InputFile& images, InputFile& labels_in) {
  Images im = load_idx_images(images);
  // The labels' header is checked against the images before a label is read.
  std::vector<int> labels = load_idx_labels(labels_in, 10, im.n, images.name());
  if (labels.size() != std::size_t(im.n))
    throw Error(images.name() + " holds " + size_text(std::uint64_t(im.n), "image") + " but " +
                labels_in.name() + " holds " + size_text(labels.size(), "label"));
  Dataset d;
  d.c = 1;
  d.h = im.h;
  d.w = im.w;
  d.classes = 10;
  d.images = std::move(im.pixels);
  d.labels = std::move(labels);
  d.source = images.name();
  return d;
}

bool is_idx(InputFile& in) {
  const std::string_view b = in.peek(4);
  if (b.size() < 4) return false;
  const std::uint32_t m = be32(std::string(b), 0);
  return m == kImagesMagic || m == kLabelsMagic;
}

bool is_idx_file(const std::string& path) {
  try {
    InputFile in(path, InputFile::Gzip::Auto);
    return is_idx(in);
  } catch (const Error&) {
    return false;
  }
}

}  // namespace scratchcnn::data
