// libFuzzer target: bytes -> the optdigits row parser. Every input either loads (then every pixel
// is in [0, 1] and every label in 0..9) or throws scratchcnn::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcnn/data/optdigits.hpp"
#include "scratchcnn/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const scratchcnn::data::Dataset d = scratchcnn::data::parse_optdigits(text, "fuzz");
    if (d.images.size() != std::size_t(d.size()) * 64) __builtin_trap();
    for (float v : d.images)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
    for (int l : d.labels)
      if (l < 0 || l > 9) __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  return 0;
}
