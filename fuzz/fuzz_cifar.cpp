// libFuzzer target: bytes -> the CIFAR-10 and CIFAR-100 readers. Every input either loads whole
// records with labels in range and pixels in [0, 1] or throws scratchcnn::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = scratchcnn::data;
  for (const d::Cifar kind : {d::Cifar::Ten, d::Cifar::Hundred}) {
    try {
      scratchcnn::InputFile in = scratchcnn::InputFile::from_bytes(
          std::string(reinterpret_cast<const char*>(data), size), "fuzz.bin");
      const d::Dataset ds = d::load_cifar(in, kind);
      const std::size_t record = kind == d::Cifar::Ten ? 3073 : 3074;
      if (ds.size() == 0 || std::size_t(ds.size()) * record != size) __builtin_trap();
      if (ds.images.size() != std::size_t(ds.size()) * 3072) __builtin_trap();
      for (int l : ds.labels)
        if (l < 0 || l >= ds.classes) __builtin_trap();
      for (float v : ds.images)
        if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
    } catch (const scratchcnn::Error&) {
    }
  }
  return 0;
}
