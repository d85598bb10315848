// libFuzzer target: bytes -> the PNG reader (header, then libpng's decoding through setjmp), and
// the decoded picture through --channels and --resize. Every input either decodes to a picture of
// the header's size with values in [0, 1] or throws scratchcnn::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = scratchcnn::data;
  // The input memory limit of --max-memory 64M: a few KiB of PNG can hold a legitimate image of
  // hundreds of MiB as floats, which would only slow the search (refusing it is tested).
  static const bool limited = (scratchcnn::set_input_memory_limit(std::uint64_t(64) << 20,
                                                                  "fuzz"),
                               true);
  (void)limited;
  try {
    scratchcnn::InputFile in = scratchcnn::InputFile::from_bytes(
        std::string(reinterpret_cast<const char*>(data), size), "fuzz.png");
    d::Picture p = d::load_png(in);
    if (p.c != 1 && p.c != 3) __builtin_trap();
    if (p.pixels.size() != std::size_t(p.c) * p.h * p.w) __builtin_trap();
    for (float v : p.pixels)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
    // Small pictures also go through the conversions, to a size taken from the input.
    if (p.pixels.size() <= 4096) {
      d::convert_channels(p, p.c == 1 ? 3 : 1);
      const int h = 1 + (size > 0 ? data[0] % 17 : 0), w = 1 + (size > 1 ? data[1] % 17 : 0);
      d::resize_bilinear(p, h, w);
      if (p.pixels.size() != std::size_t(p.c) * h * w) __builtin_trap();
      for (float v : p.pixels)
        if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
    }
  } catch (const scratchcnn::Error&) {
  }
  return 0;
}
