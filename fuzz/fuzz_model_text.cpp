// libFuzzer target: model text -> parse_model. Anything but a ModelSpec or scratchcnn::Error is a
// bug (a crash, a hang, a sanitizer report, another exception type).
#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const scratchcnn::ModelSpec spec = scratchcnn::parse_model(text);
    // A parsed model's canonical text must parse again to the same model.
    if (scratchcnn::parse_full_text(spec.full_text()).full_text() != spec.full_text())
      __builtin_trap();
  } catch (const scratchcnn::Error&) {
  }
  try {
    scratchcnn::parse_shape(text);
  } catch (const scratchcnn::Error&) {
  }
  return 0;
}
