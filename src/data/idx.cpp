// IDX files (the MNIST format): dataset.hpp has the layout.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::data {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr std::size_t kImagesHeader = 16;
constexpr std::size_t kLabelsHeader = 8;
// Larger images than this are not what a CNN on a CPU trains on; the bound also keeps
// count * rows * columns far from overflowing.
constexpr std::uint32_t kMaxSide = 1 << 14;

void check_openable(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    throw Error(path + ": cannot open: no such file");
  if (std::filesystem::is_directory(status)) throw Error(path + ": cannot open: it is a folder");
}

// Reads up to `limit` bytes of a plain or gzip file (zlib passes plain files through unchanged).
std::string read_bytes(const std::string& path, std::size_t limit = std::string::npos) {
  check_openable(path);
  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    throw Error(path + ": cannot open: " + (err != 0 ? std::strerror(err) : "out of memory"));
  }
  gzbuffer(f, 1 << 18);
  std::string bytes;
  std::string buf(std::size_t(1) << 20, '\0');
  while (bytes.size() < limit) {
    const std::size_t want = std::min(buf.size(), limit - bytes.size());
    const int n = gzread(f, buf.data(), static_cast<unsigned>(want));
    const int read_errno = errno;
    // A truncated gzip stream ends with n == 0 and Z_BUF_ERROR, not with n < 0.
    int zerr = Z_OK;
    std::string why = gzerror(f, &zerr);
    if (n < 0 || (n == 0 && zerr != Z_OK)) {
      if (zerr == Z_ERRNO) why = std::strerror(read_errno);
      if (zerr == Z_BUF_ERROR) why = "the gzip stream is truncated";
      if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
      gzclose(f);
      throw Error(path + ": read error: " + why);
    }
    if (n == 0) break;
    bytes.append(buf.data(), static_cast<std::size_t>(n));
  }
  gzclose(f);
  return bytes;
}

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

// Refuses data shorter or longer than the header promises.
void check_length(const std::string& path, const std::string& b, std::size_t header,
                  std::uint64_t want, const std::string& promise) {
  const std::uint64_t have = b.size() - header;
  if (have < want)
    throw Error(path + ": truncated: the header promises " + promise + " (" +
                size_text(want, "byte") + "), the file holds " + size_text(have, "byte"));
  if (have > want)
    throw Error(path + ": " + size_text(have - want, "byte") + " after the " + promise +
                " the header promises (corrupted, or not an IDX file)");
}

}  // namespace

Images load_idx_images(const std::string& path) {
  const std::string b = read_bytes(path);
  check_magic(path, b, kImagesMagic);
  if (b.size() < kImagesHeader)
    throw Error(path + ": truncated: " + std::to_string(b.size()) +
                " bytes, shorter than the 16-byte header of an IDX images file");
  const std::uint32_t n = be32(b, 4), rows = be32(b, 8), cols = be32(b, 12);
  if (n == 0) throw Error(path + ": the header says 0 images");
  if (rows == 0 || cols == 0 || rows > kMaxSide || cols > kMaxSide)
    throw Error(path + ": wrong image dimensions " + std::to_string(rows) + "x" +
                std::to_string(cols) + " in the header (each must be 1.." +
                std::to_string(kMaxSide) + ")");
  if (n > 0x7fffffffU) throw Error(path + ": the header says " + std::to_string(n) + " images");
  const std::uint64_t want = std::uint64_t(n) * rows * cols;
  check_length(path, b, kImagesHeader, want,
               size_text(n, "image") + " of " + std::to_string(rows) + "x" + std::to_string(cols));
  Images im;
  im.n = static_cast<int>(n);
  im.h = static_cast<int>(rows);
  im.w = static_cast<int>(cols);
  im.pixels.resize(want);
  const unsigned char* src = reinterpret_cast<const unsigned char*>(b.data()) + kImagesHeader;
  for (std::uint64_t i = 0; i < want; ++i) im.pixels[i] = static_cast<float>(src[i]) / 255.0f;
  return im;
}

std::vector<int> load_idx_labels(const std::string& path, int classes) {
  const std::string b = read_bytes(path);
  check_magic(path, b, kLabelsMagic);
  if (b.size() < kLabelsHeader)
    throw Error(path + ": truncated: " + std::to_string(b.size()) +
                " bytes, shorter than the 8-byte header of an IDX labels file");
  const std::uint32_t n = be32(b, 4);
  if (n == 0) throw Error(path + ": the header says 0 labels");
  if (n > 0x7fffffffU) throw Error(path + ": the header says " + std::to_string(n) + " labels");
  check_length(path, b, kLabelsHeader, n, size_text(n, "label"));
  std::vector<int> labels(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const int v = static_cast<unsigned char>(b[kLabelsHeader + i]);
    if (v >= classes)
      throw Error(path + ": label of sample " + std::to_string(i) + " (byte " +
                  std::to_string(kLabelsHeader + i) + ") is " + std::to_string(v) +
                  ", outside 0.." + std::to_string(classes - 1));
    labels[i] = v;
  }
  return labels;
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  Images im = load_idx_images(images_path);
  std::vector<int> labels = load_idx_labels(labels_path);
  if (labels.size() != std::size_t(im.n))
    throw Error(images_path + " holds " + size_text(std::uint64_t(im.n), "image") + " but " +
                labels_path + " holds " + size_text(labels.size(), "label"));
  Dataset d;
  d.c = 1;
  d.h = im.h;
  d.w = im.w;
  d.classes = 10;
  d.images = std::move(im.pixels);
  d.labels = std::move(labels);
  d.source = images_path;
  return d;
}

bool is_idx_file(const std::string& path) {
  try {
    const std::string b = read_bytes(path, 4);
    if (b.size() < 4) return false;
    const std::uint32_t m = be32(b, 0);
    return m == kImagesMagic || m == kLabelsMagic;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace scratchcnn::data
