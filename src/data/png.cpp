// PNG files through libpng (dataset.hpp): the header parsed here, the data decoded by libpng's
// progressive-free reader from the bytes in memory, errors turned into scratchcnn::Error.
#include <png.h>

#include <csetjmp>
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

std::uint32_t be32(std::string_view b, std::size_t at) {
  return (std::uint32_t(static_cast<unsigned char>(b[at])) << 24) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 1])) << 16) |
         (std::uint32_t(static_cast<unsigned char>(b[at + 2])) << 8) |
         std::uint32_t(static_cast<unsigned char>(b[at + 3]));
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

// Decodes into `out` (room for h rows of `row_room` bytes, `rows` pointing at them): 8 or 16 bits
// per sample, gray or RGB with or without alpha. Returns false with r.message set on a libpng
// error. Only plain C objects live in this frame: libpng leaves it by longjmp.
bool decode(Reader& r, const PngHeader& h, std::size_t row_room, png_bytep* rows, int* channels,
            int* depth) {
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
  int bit_depth = 0, color_type = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, nullptr, nullptr, nullptr);
  if (int(width) != h.width || int(height) != h.height || bit_depth != h.bit_depth ||
      color_type != h.color_type)
    png_error(png, "the header changed while the file was read");
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  (void)png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *channels = png_get_channels(png, info);
  *depth = png_get_bit_depth(png, info);
  if (png_get_rowbytes(png, info) > row_room || (*depth != 8 && *depth != 16) || *channels < 1 ||
      *channels > 4)
    png_error(png, "unexpected decoded row layout");
  png_read_image(png, rows);
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
  // Decoded: at most 4 samples (RGB and alpha) of at most 2 bytes per pixel, one filter byte per
  // row. A file larger than that plus kPngSlack (room for metadata) is no sensible PNG.
  const std::size_t row_room = std::size_t(h.width) * 4 * (h.bit_depth == 16 ? 2 : 1) + 1;
  const std::uint64_t decoded = std::uint64_t(row_room) * std::uint64_t(h.height);
  const std::uint64_t max_file = decoded + decoded / 8 + kPngSlack;
  const std::uint64_t floats = std::uint64_t(h.channels()) * h.height * h.width;
  check_input_size(name, "a PNG image of " + std::to_string(h.width) + "x" +
                             std::to_string(h.height) + " pixels (decoded, and as floats)",
                   decoded + floats * sizeof(float));
  if (const auto left = in.remaining(); left && *left > max_file)
    throw Error(name + ": " + std::to_string(*left) + " bytes, more than a PNG image of " +
                std::to_string(h.width) + "x" + std::to_string(h.height) + " pixels needs (" +
                std::to_string(max_file) + " at most, metadata included)");
  const std::string bytes = in.read(static_cast<std::size_t>(max_file) + 1);
  if (bytes.size() > max_file)
    throw Error(name + ": more than " + std::to_string(max_file) + " bytes, more than a PNG image of " +
                std::to_string(h.width) + "x" + std::to_string(h.height) + " pixels needs");

  std::vector<unsigned char> buffer(static_cast<std::size_t>(decoded));
  std::vector<png_bytep> rows(static_cast<std::size_t>(h.height));
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = buffer.data() + y * row_room;
  Reader r;
  r.data = reinterpret_cast<const unsigned char*>(bytes.data());
  r.size = bytes.size();
  int channels = 0, depth = 0;
  if (!decode(r, h, row_room, rows.data(), &channels, &depth))
    throw Error(name + ": corrupted PNG file (libpng: " + std::string(r.message) + ")");

  Picture p;
  p.c = h.channels();
  p.h = h.height;
  p.w = h.width;
  p.pixels.resize(std::size_t(p.c) * p.h * p.w);
  const std::size_t plane = std::size_t(p.h) * p.w;
  const int bytes_per = depth == 16 ? 2 : 1;
  const float scale = depth == 16 ? 65535.0f : 255.0f;
  // Gray (1 or 2 samples with alpha) gives c = 1, RGB (3, or 4 with alpha) c = 3: the alpha
  // sample, last, is skipped.
  for (int y = 0; y < p.h; ++y) {
    const unsigned char* row = rows[std::size_t(y)];
    for (int x = 0; x < p.w; ++x) {
      const unsigned char* px = row + std::size_t(x) * channels * bytes_per;
      for (int ch = 0; ch < p.c; ++ch) {
        const unsigned char* s = px + std::size_t(ch) * bytes_per;
        const unsigned v = bytes_per == 2 ? (unsigned(s[0]) << 8) | s[1] : s[0];
        p.pixels[std::size_t(ch) * plane + std::size_t(y) * p.w + x] = float(v) / scale;
      }
    }
  }
  return p;
}

}  // namespace scratchcnn::data
