// libFuzzer target: bytes -> the IDX readers (images and labels), through the same input reader
// as files (InputFile, gzip detected from the bytes), so gzip handling is fuzzed too. Every input
// either loads consistently or throws scratchcnn::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"

namespace {
scratchcnn::InputFile input(const std::uint8_t* data, std::size_t size) {
  return scratchcnn::InputFile::from_bytes(std::string(reinterpret_cast<const char*>(data), size),
                                           "fuzz", scratchcnn::InputFile::Gzip::Auto);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    scratchcnn::InputFile in = input(data, size);
    const scratchcnn::data::Images im = scratchcnn::data::load_idx_images(in);
    if (im.pixels.size() != std::size_t(im.n) * im.h * im.w) __builtin_trap();
    for (float v : im.pixels)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  try {
    scratchcnn::InputFile in = input(data, size);
    for (int label : scratchcnn::data::load_idx_labels(in))
      if (label < 0 || label > 9) __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  try {
    scratchcnn::InputFile in = input(data, size);
    (void)scratchcnn::data::is_idx(in);
  } catch (const scratchcnn::Error&) {
  }
  return 0;
}
