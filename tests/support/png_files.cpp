// PNG files for the tests (png_files.hpp), written through libpng into memory.
#include "png_files.hpp"

#include <png.h>

#include <stdexcept>

namespace scratchcnn::test {

namespace {

void on_write(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}
void on_flush(png_structp) {}
void on_error(png_structp, png_const_charp msg) { throw std::runtime_error(msg); }
void on_warning(png_structp, png_const_charp) {}

int samples_per_pixel(int color_type) {
  switch (color_type) {
    case 2: return 3;
    case 4: return 2;
    case 6: return 4;
    default: return 1;
  }
}

}  // namespace

std::string png_bytes(const PngSpec& s) {
  const int spp = samples_per_pixel(s.color_type);
  if (s.samples.size() != std::size_t(s.width) * s.height * spp)
    throw std::runtime_error("png_bytes: wrong sample count");
  std::string out;
  // libpng's errors are thrown through its C frames: fine for the tests' well-formed images.
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, on_error, on_warning);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, on_write, on_flush);
  png_set_IHDR(png, info, png_uint_32(s.width), png_uint_32(s.height), s.bit_depth, s.color_type,
               s.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> palette;
  for (const auto& c : s.palette) palette.push_back(png_color{c[0], c[1], c[2]});
  if (s.color_type == 3) png_set_PLTE(png, info, palette.data(), int(palette.size()));
  if (!s.trns.empty())
    png_set_tRNS(png, info, s.trns.data(), int(s.trns.size()), nullptr);
  png_write_info(png, info);
  if (s.bit_depth < 8) png_set_packing(png);
  const int bytes = s.bit_depth == 16 ? 2 : 1;
  std::vector<std::vector<unsigned char>> rows(std::size_t(s.height));
  std::vector<png_bytep> pointers;
  for (int y = 0; y < s.height; ++y) {
    auto& row = rows[std::size_t(y)];
    for (int i = 0; i < s.width * spp; ++i) {
      const unsigned v = s.samples[std::size_t(y) * s.width * spp + i];
      if (bytes == 2) row.push_back(static_cast<unsigned char>(v >> 8));
      row.push_back(static_cast<unsigned char>(v & 0xff));
    }
    pointers.push_back(row.data());
  }
  png_write_image(png, pointers.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string simple_png(int height, int width, int channels, unsigned seed) {
  PngSpec s;
  s.width = width;
  s.height = height;
  s.color_type = channels == 1 ? 0 : 2;
  for (int i = 0; i < width * height * channels; ++i) s.samples.push_back((seed + 7u * unsigned(i)) % 256u);
  return png_bytes(s);
}

std::string cifar_record(const std::vector<unsigned char>& labels, unsigned seed) {
  std::string r(labels.begin(), labels.end());
  for (unsigned i = 0; i < 3072; ++i) r.push_back(static_cast<char>((seed + i) % 256u));
  return r;
}

}  // namespace scratchcnn::test
