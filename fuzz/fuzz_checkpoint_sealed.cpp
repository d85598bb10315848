// libFuzzer target: bytes -> the checkpoint and parameter-file readers, with the trailing checksum
// recomputed first. A random byte change almost never survives the FNV-1a check, so in
// fuzz_parameters the mutations stop there; here every mutated byte reaches the parser behind it,
// as an edited and re-sealed file does (the checksum is no authentication). Every input either
// loads with values the flags accept, or throws scratchcnn::Error.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/trainer.hpp"

namespace {

bool finite(const scratchcnn::Parameters& p) {
  for (const auto& l : p.layers) {
    for (float v : l.weights)
      if (!std::isfinite(v)) return false;
    for (float v : l.bias)
      if (!std::isfinite(v)) return false;
    for (float v : l.running)
      if (!std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 8) {
    const std::uint64_t h = scratchcnn::fnv1a64(bytes.data(), bytes.size() - 8);
    std::memcpy(bytes.data() + bytes.size() - 8, &h, 8);
  }
  try {
    const scratchcnn::Checkpoint c = scratchcnn::deserialize_checkpoint(bytes, "fuzz");
    const scratchcnn::TrainOptions& o = c.state.options;
    // What loads is what the flags accept, and a run could start from it.
    scratchcnn::TrainOptions run = o;
    run.first_epoch = c.state.epoch + 1;
    scratchcnn::validate(run);
    if (c.state.epoch > o.epochs || c.state.history.size() != std::size_t(c.state.epoch) ||
        c.state.isa.size() > scratchcnn::kMaxIsaLength || !finite(c.params) ||
        !finite(c.state.velocity))
      __builtin_trap();
    const std::string again = scratchcnn::serialize_checkpoint(c.spec, c.params, c.state);
    std::uint32_t version = 0;
    std::memcpy(&version, bytes.data() + 8, 4);
    // Versions 2 to 6 come back byte for byte (3 holds a convolution algorithm, 2 is auto's, 4 a
    // learning-rate schedule, warm-up or optimizer besides, 5 Adam's moments, 6 a validation
    // split, 7 class names or load options, 8 batch norm's running statistics);
    // version 1 is written as version 2, which reads back to the same state.
    if (version >= 2) {
      if (again != bytes) __builtin_trap();
    } else {
      const scratchcnn::Checkpoint back = scratchcnn::deserialize_checkpoint(again, "fuzz");
      if (!(back.params == c.params) || !(back.state.velocity == c.state.velocity) ||
          back.state.epoch != c.state.epoch || back.state.isa != c.state.isa ||
          back.state.options.batch != o.batch || back.state.options.epochs != o.epochs ||
          back.state.options.conv != o.conv ||
          !(back.state.data == c.state.data))
        __builtin_trap();
    }
  } catch (const scratchcnn::Error&) {
  }
  try {
    const scratchcnn::ModelSpec spec = scratchcnn::parameter_file_model(bytes, "fuzz");
    const scratchcnn::Parameters p = scratchcnn::deserialize_parameters(bytes, spec, "fuzz");
    if (!finite(p)) __builtin_trap();
    if (bytes.compare(0, 8, "SCNNPARM") == 0 &&
        scratchcnn::serialize_parameters(spec, p) != bytes)
      __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  return 0;
}
