// libFuzzer target: bytes -> the IDX readers (images and labels). The readers take a path, so each
// input is written to one temporary file first. Every input either loads consistently or throws
// scratchcnn::Error.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"

namespace {
const std::string& scratch_path() {
  static const std::string path = "/tmp/scratchcnn-fuzz-idx-" + std::to_string(::getpid());
  return path;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const scratchcnn::data::Images im = scratchcnn::data::load_idx_images(path);
    if (im.pixels.size() != std::size_t(im.n) * im.h * im.w) __builtin_trap();
    for (float v : im.pixels)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  try {
    for (int label : scratchcnn::data::load_idx_labels(path))
      if (label < 0 || label > 9) __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  (void)scratchcnn::data::is_idx_file(path);
  return 0;
}
