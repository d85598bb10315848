// PNG files through libpng (dataset.hpp): the header parsed here, the rows decoded by libpng from
// the file's bytes in memory, one at a time, libpng's errors turned into scratchcnn::Error.
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <new>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::data {

namespace {

constexpr unsigned char kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr std::size_t kHeaderBytes = 33;  // signature, IHDR length, type, 13 bytes, CRC
constexpr std::uint64_t kDeflateRatio = 1032;  // the most deflate expands (zlib's bound)

std::uint32_t be32(std::string_view b, std::size_t at) {
  return (std::uint32_t(static_cast<unsigned char>(b[at])) << 24) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 1])) << 16) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 2])) << 8) |
         std::uint32_t(static_cast<unsigned char>(b[at + 3]));
}

// A chunk type for messages: its letters, other bytes as '?'.
std::string printable(std::string type) {
  for (char& ch : type)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) ch = '?';
  return type;
}

bool valid_depth(int color_type, int depth) {
  switch (color_type) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

// What libpng's callbacks share with the caller: the bytes and the first error message.
struct Reader {
  const unsigned char* data = nullptr;
  std::size_t size = 0, pos = 0;
  char message[256] = {};
};

void on_error(png_structp png, png_const_charp msg) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", msg != nullptr ? msg : "libpng error");
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "the file is truncated");
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

// The samples per pixel and bytes per sample libpng hands over after the transformations below
// (palettes to RGB, with alpha when a tRNS chunk is there; gray below 8 bits to 8; gray's tRNS is
// not expanded), at most: a row buffer of this layout always suffices.
std::size_t row_room(const PngHeader& h) {
  const int samples = h.color_type == 0 ? 1 : h.color_type == 4 ? 2 : h.color_type == 2 ? 3 : 4;
  return std::size_t(h.width) * samples * (h.bit_depth == 16 ? 2 : 1);
}

// Where decoded rows go: each converted to floats and appended, interleaved, to `pixels`, which
// grows with the rows that arrive (never with the header's promise alone).
struct Sink {
  std::vector<float>* pixels = nullptr;
  int c = 0, w = 0;
};

// Appends one decoded row; false when memory runs out.
bool take_row(Sink& s, const unsigned char* row, int channels, int depth) {
  try {
    const int bytes_per = depth == 16 ? 2 : 1;
    const float scale = depth == 16 ? 65535.0f : 255.0f;
    std::vector<float>& out = *s.pixels;
    const std::size_t at = out.size();
    const std::size_t n = std::size_t(s.w) * s.c;
    if (at + n > out.capacity()) out.reserve(std::max(at + n, 2 * out.capacity()));
    out.resize(at + n);
    // Gray (1 sample, 2 with alpha) gives c = 1, RGB (3, 4 with alpha) c = 3: the alpha sample,
    // last, is skipped.
    for (int x = 0; x < s.w; ++x) {
      const unsigned char* px = row + std::size_t(x) * channels * bytes_per;
      for (int ch = 0; ch < s.c; ++ch) {
        const unsigned char* b = px + std::size_t(ch) * bytes_per;
        const unsigned v = bytes_per == 2 ? (unsigned(b[0]) << 8) | b[1] : b[0];
        out[at + std::size_t(x) * s.c + ch] = float(v) / scale;
      }
    }
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

// Decodes the image of `h` row by row into `sink`. `rows`: room for all rows (row_room(h) bytes
// each) for an interlaced image, whose passes revisit every row; one row otherwise. Returns false
// with r.message set on a libpng error. Only plain C objects live in this frame: libpng leaves it
// by longjmp.
bool decode(Reader& r, const PngHeader& h, unsigned char* rows, Sink& sink) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
  if (png == nullptr) {
    std::snprintf(r.message, sizeof r.message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(r.message, sizeof r.message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &r, on_read);
  png_set_user_limits(png, kMaxImageSide, kMaxImageSide);
  png_set_chunk_malloc_max(png, kPngSlack);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  if (int(width) != h.width || int(height) != h.height || bit_depth != h.bit_depth ||
      color_type != h.color_type || (interlace != PNG_INTERLACE_NONE) != h.interlaced)
    png_error(png, "the header changed while the file was read");
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  const int depth = png_get_bit_depth(png, info);
  const std::size_t room = row_room(h);
  if (png_get_rowbytes(png, info) > room || (depth != 8 && depth != 16) || channels < 1 ||
      channels > 4)
    png_error(png, "unexpected decoded row layout");
  if (h.interlaced) {
    for (int pass = 0; pass < passes; ++pass)
      for (int y = 0; y < h.height; ++y) png_read_row(png, rows + std::size_t(y) * room, nullptr);
    for (int y = 0; y < h.height; ++y)
      if (!take_row(sink, rows + std::size_t(y) * room, channels, depth))
        png_error(png, "out of memory");
  } else {
    for (int y = 0; y < h.height; ++y) {
      png_read_row(png, rows, nullptr);
      if (!take_row(sink, rows, channels, depth)) png_error(png, "out of memory");
    }
  }
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

bool is_png_signature(std::string_view bytes) {
  return bytes.size() >= 8 && std::memcmp(bytes.data(), kSignature, 8) == 0;
}

PngHeader read_png_header(InputFile& in) {
  const std::string_view b = in.peek(kHeaderBytes);
  const std::string& name = in.name();
  if (!is_png_signature(b)) throw Error(name + ": not a PNG file (no PNG signature)");
  if (b.size() < kHeaderBytes)
    throw Error(name + ": truncated PNG file (" + std::to_string(b.size()) +
                " bytes, shorter than the 33-byte header)");
  if (be32(b, 8) != 13 || b.substr(12, 4) != "IHDR")
    throw Error(name + ": corrupted PNG file (the first chunk is not a 13-byte IHDR)");
  PngHeader h;
  const std::uint32_t w = be32(b, 16), hh = be32(b, 20);
  h.bit_depth = static_cast<unsigned char>(b[24]);
  h.color_type = static_cast<unsigned char>(b[25]);
  h.interlaced = b[28] != 0;
  if (!valid_depth(h.color_type, h.bit_depth))
    throw Error(name + ": corrupted PNG file (colour type " + std::to_string(h.color_type) +
                " with bit depth " + std::to_string(h.bit_depth) + ")");
  if (w == 0 || hh == 0 || w > std::uint32_t(kMaxImageSide) || hh > std::uint32_t(kMaxImageSide))
    throw Error(name + ": PNG image of " + std::to_string(w) + "x" + std::to_string(hh) +
                " pixels (width x height); each side must be 1.." + std::to_string(kMaxImageSide));
  h.width = static_cast<int>(w);
  h.height = static_cast<int>(hh);
  const std::uint64_t values = std::uint64_t(w) * hh * std::uint64_t(h.channels());
  if (values > kMaxImageValues)
    throw Error(name + ": PNG image of " + std::to_string(w) + "x" + std::to_string(hh) + "x" +
                std::to_string(h.channels()) + " values, more than the " +
                std::to_string(kMaxImageValues) + " one image may have");
  return h;
}

Picture load_png(const std::string& path) {
  InputFile in(path);
  return load_png(in);
}

Picture load_png(InputFile& in) {
  const PngHeader h = read_png_header(in);
  const std::string& name = in.name();
  // A file larger than the decoded rows (with a filter byte each) plus 1/8 and kPngSlack (room for
  // metadata chunks) is no sensible PNG.
  const std::size_t room = row_room(h);
  const std::uint64_t decoded = std::uint64_t(room + 1) * std::uint64_t(h.height);
  const std::uint64_t max_file = decoded + decoded / 8 + kPngSlack;
  const std::uint64_t floats = std::uint64_t(h.channels()) * h.height * h.width;
  check_input_size(name, "the decoded pixels of a " + std::to_string(h.width) + "x" +
                             std::to_string(h.height) + " PNG image",
                   2 * floats * sizeof(float) + (h.interlaced ? decoded : room));
  if (const auto left = in.remaining(); left && *left > max_file)
    throw Error(name + ": " + std::to_string(*left) + " bytes, more than a PNG image of " +
                std::to_string(h.width) + "x" + std::to_string(h.height) + " pixels needs (" +
                std::to_string(max_file) + " at most, metadata included)");
  const std::string bytes = in.read(static_cast<std::size_t>(max_file) + 1);
  if (bytes.size() > max_file)
    throw Error(name + ": more than " + std::to_string(max_file) +
                " bytes, more than a PNG image of " + std::to_string(h.width) + "x" +
                std::to_string(h.height) + " pixels needs");

  // Every chunk up to IEND must fit in the file: libpng would allocate a chunk's claimed length
  // (an ancillary chunk of 1.6 GB in a 130-byte file) before finding the data missing.
  for (std::uint64_t at = 8;;) {
    if (at + 8 > bytes.size())
      throw Error(name + ": truncated PNG file (no IEND chunk: the file ends at byte " +
                  std::to_string(bytes.size()) + ")");
    const std::uint64_t length = be32(bytes, static_cast<std::size_t>(at));
    const std::string type = bytes.substr(static_cast<std::size_t>(at) + 4, 4);
    if (length > 0x7fffffffU || at + 12 + length > bytes.size())
      throw Error(name + ": corrupted PNG file (chunk '" + printable(type) + "' at byte " +
                  std::to_string(at) + " claims " + std::to_string(length) +
                  " bytes, the file holds " + std::to_string(bytes.size() - at - 8) + " more)");
    at += 12 + length;
    if (type == "IEND") break;
  }

  // deflate expands by at most 1032:1 (zlib's bound), so a file whose bytes cannot hold the image
  // data its header promises is truncated or corrupted: refused before any row memory is taken.
  static constexpr int kFileSamples[7] = {1, 0, 3, 1, 2, 0, 4};
  const std::uint64_t least_data =
      (std::uint64_t(h.width) * h.height * kFileSamples[h.color_type] * h.bit_depth + 7) / 8;
  if (least_data > std::uint64_t(bytes.size()) * kDeflateRatio + 1024)
    throw Error(name + ": corrupted PNG file (" + std::to_string(bytes.size()) +
                " bytes cannot hold the " + std::to_string(h.width) + "x" +
                std::to_string(h.height) + " image its header promises)");

  // Row memory: one row, or every row of an interlaced image (its passes revisit them).
  std::vector<unsigned char> rows(h.interlaced ? static_cast<std::size_t>(decoded) : room);
  std::vector<float> interleaved;
  Sink sink{&interleaved, h.channels(), h.width};
  Reader r;
  r.data = reinterpret_cast<const unsigned char*>(bytes.data());
  r.size = bytes.size();
  if (!decode(r, h, rows.data(), sink))
    throw Error(name + ": corrupted PNG file (libpng: " + std::string(r.message) + ")");

  Picture p;
  p.c = h.channels();
  p.h = h.height;
  p.w = h.width;
  const std::size_t plane = std::size_t(p.h) * p.w;
  if (interleaved.size() != plane * p.c)
    throw Error(name + ": corrupted PNG file (" + std::to_string(interleaved.size()) +
                " values decoded, " + std::to_string(plane * p.c) + " expected)");
  if (p.c == 1) {
    p.pixels = std::move(interleaved);
  } else {
    p.pixels.resize(plane * p.c);
    for (std::size_t i = 0; i < plane; ++i)
      for (int ch = 0; ch < p.c; ++ch)
        p.pixels[std::size_t(ch) * plane + i] = interleaved[i * std::size_t(p.c) + ch];
  }
  return p;
}

}  // namespace scratchcnn::data
