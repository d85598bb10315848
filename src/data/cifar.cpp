// CIFAR-10 and CIFAR-100 binary files (dataset.hpp).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/files.hpp"
#include "scratchcnn/memory.hpp"

namespace scratchcnn::data {

namespace {

constexpr int kSide = 32;
constexpr std::size_t kPixels = 3 * kSide * kSide;  // 3072
// Records read and converted at a time.
constexpr std::size_t kRecordsPerChunk = 256;

std::string records_text(std::uint64_t n) {
  return std::to_string(n) + (n == 1 ? " record" : " records");
}

}  // namespace

Dataset load_cifar(const std::string& path, Cifar kind) {
  InputFile in(path);
  return load_cifar(in, kind);
}

Dataset load_cifar(InputFile& in, Cifar kind) {
  const std::string& name = in.name();
  const bool hundred = kind == Cifar::Hundred;
  const std::size_t label_bytes = hundred ? 2 : 1;
  const std::size_t record = label_bytes + kPixels;
  const int classes = hundred ? 100 : 10;
  const std::string format = hundred ? "CIFAR-100" : "CIFAR-10";
  const std::string layout = std::to_string(record) + "-byte " + format + " records (" +
                             (hundred ? "a coarse and a fine label byte" : "1 label byte") +
                             " + 3072 pixel bytes)";
  const auto not_whole = [&](std::uint64_t size) {
    return Error(name + ": " + std::to_string(size) + " bytes is not a whole number of " + layout);
  };
  const auto too_many = [&] {
    return Error(name + ": more than " + records_text(kMaxCifarRecords) +
                 ", the most one CIFAR file may hold here");
  };
  // A regular file's size is checked before anything is read.
  if (const auto left = in.remaining()) {
    if (*left == 0) throw Error(name + ": empty file (expected " + layout + ")");
    if (*left % record != 0) throw not_whole(*left);
    if (*left / record > std::uint64_t(kMaxCifarRecords)) throw too_many();
    check_input_size(name, records_text(*left / record) + " of 3x32x32 pixels (as floats)",
                     *left / record * kPixels * sizeof(float));
  }
  Dataset d;
  d.c = 3;
  d.h = kSide;
  d.w = kSide;
  d.classes = classes;
  d.source = name;
  if (const auto left = in.remaining()) {
    d.images.reserve(static_cast<std::size_t>(*left / record * kPixels));
    d.labels.reserve(static_cast<std::size_t>(*left / record));
  }
  std::string buf;
  std::uint64_t n = 0;
  for (;;) {
    buf = in.read(record * kRecordsPerChunk);
    const std::size_t whole = buf.size() / record;
    if (n + whole > std::uint64_t(kMaxCifarRecords)) throw too_many();
    check_input_size(name, records_text(n + whole) + " of 3x32x32 pixels (as floats)",
                     (n + whole) * kPixels * sizeof(float));
    for (std::size_t r = 0; r < whole; ++r) {
      const auto* rec = reinterpret_cast<const unsigned char*>(buf.data() + r * record);
      if (hundred && rec[0] >= 20)
        throw Error(name + ": record " + std::to_string(n + r) + " (byte " +
                    std::to_string((n + r) * record) + ") has coarse label " +
                    std::to_string(rec[0]) + ", outside 0..19");
      const int label = rec[label_bytes - 1];
      if (label >= classes)
        throw Error(name + ": record " + std::to_string(n + r) + " (byte " +
                    std::to_string((n + r) * record + label_bytes - 1) + ") has label " +
                    std::to_string(label) + ", outside 0.." + std::to_string(classes - 1));
      d.labels.push_back(label);
      const unsigned char* px = rec + label_bytes;
      for (std::size_t i = 0; i < kPixels; ++i) d.images.push_back(float(px[i]) / 255.0f);
    }
    n += whole;
    if (buf.size() % record != 0) throw not_whole(n * record + buf.size() % record);
    if (buf.size() < record * kRecordsPerChunk) break;
  }
  if (n == 0) throw Error(name + ": empty file (expected " + layout + ")");
  return d;
}

}  // namespace scratchcnn::data
