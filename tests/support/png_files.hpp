#pragma once
// PNG files written with libpng for the image-folder tests, and CIFAR records.
#include <array>
#include <string>
#include <vector>

namespace scratchcnn::test {

// A PNG image to write: `samples` row-major, interleaved, as many per pixel as the colour type
// stores (gray 1, gray + alpha 2, RGB 3, palette 1 index, RGBA 4), each below 2^bit_depth.
struct PngSpec {
  int width = 1, height = 1;
  int color_type = 0;  // 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA
  int bit_depth = 8;
  std::vector<unsigned> samples;
  std::vector<std::array<unsigned char, 3>> palette;  // color_type 3
  std::vector<unsigned char> trns;                    // palette alpha (tRNS), optional
  bool interlaced = false;
};
// The bytes of the PNG file.
std::string png_bytes(const PngSpec& spec);
// An 8-bit gray (channels 1) or RGB (3) image whose sample i is (seed + 7 * i) % 256.
std::string simple_png(int height, int width, int channels, unsigned seed);

// A CIFAR record: label byte(s) then 3072 pixel bytes, pixel i = (seed + i) % 256.
std::string cifar_record(const std::vector<unsigned char>& labels, unsigned seed);

}  // namespace scratchcnn::test
