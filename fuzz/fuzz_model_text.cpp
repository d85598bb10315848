// libFuzzer target: model text -> parse_model, at the default 1x8x8 input and at an input shape
// the first six bytes choose. Anything but a ModelSpec or scratchcnn::Error is a bug (a crash, a
// hang, a sanitizer report, another exception type); so is an accepted model whose sizes break
// the limits of model_spec.hpp or whose memory estimate fails.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/model_spec.hpp"

namespace {

// Two bytes -> one dimension: mostly small (1..32, where models parse), or, with the top bit set,
// anywhere in 1..65535 (where the size limits are).
int dimension(const std::uint8_t* p) {
  const unsigned v = unsigned(p[0]) | unsigned(p[1]) << 8;
  return (v & 0x8000u) ? int((v & 0x7fffu) * 2 + 1) : int(1 + v % 32);
}

void check(const scratchcnn::ModelSpec& spec) {
  using namespace scratchcnn;
  // A parsed model's canonical text must parse again to the same model.
  if (parse_full_text(spec.full_text()).full_text() != spec.full_text()) __builtin_trap();
  if (spec.input.size() > kMaxSampleValues) __builtin_trap();
  for (const LayerInfo& i : spec.info)
    if (i.out.size() > kMaxSampleValues || i.out.size() < 1 || i.params > kMaxLayerParams ||
        i.params < 0 || i.flops > kMaxLayerFlops || i.flops < 0)
      __builtin_trap();
  for (const PathKind p : {PathKind::Fast, PathKind::Reference})
    if (estimate_memory(p, spec, 1 + int(spec.layers.size() % 300), 4).total() == 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check(scratchcnn::parse_model(text));
  } catch (const scratchcnn::Error&) {
  }
  if (size >= 6) {
    const scratchcnn::Shape input{dimension(data), dimension(data + 2), dimension(data + 4), false};
    try {
      check(scratchcnn::parse_model(text.substr(6), input));
    } catch (const scratchcnn::Error&) {
    }
  }
  try {
    scratchcnn::parse_shape(text);
  } catch (const scratchcnn::Error&) {
  }
  return 0;
}
