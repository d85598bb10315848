#include "scratchcnn/network.hpp"

#include <cmath>
#include <new>

#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/network.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/reference/network.hpp"

namespace scratchcnn {

void check_batch(const ModelSpec& spec, const Batch& batch) {
  const int classes = spec.classes();
  const std::int64_t size = spec.input.size();
  if (batch.n < 1) throw Error("empty batch");
  for (int s = 0; s < batch.n; ++s) {
    const int label = batch.labels[s];
    if (label < 0 || label >= classes)
      throw Error("label " + std::to_string(label) + " of sample " + std::to_string(s) +
                  " in the batch is outside 0.." + std::to_string(classes - 1));
    const float* x = batch.images + s * size;
    for (std::int64_t i = 0; i < size; ++i)
      if (!std::isfinite(x[i]))
        throw Error("sample " + std::to_string(s) + " has a non-finite input value (" +
                    (std::isnan(x[i]) ? "NaN" : "infinite") + ") at index " + std::to_string(i));
  }
}

PathKind parse_path(const std::string& text) {
  if (text == "reference") return PathKind::Reference;
  if (text == "fast") return PathKind::Fast;
  throw Error("--path: '" + text + "' is not a path (reference or fast)");
}

const char* path_name(PathKind p) { return p == PathKind::Reference ? "reference" : "fast"; }

std::unique_ptr<Network> make_network(PathKind path, const ModelSpec& spec, const Parameters& p) {
  check_parameters(spec, p);
  try {
    if (path == PathKind::Reference) return std::make_unique<reference::Network<float>>(spec, p);
    return fast::make_network(spec, p);
  } catch (const std::bad_alloc&) {
    throw Error(std::string("out of memory building the ") + path_name(path) + " network of '" +
                spec.full_text() + "' (it needs an estimated " +
                format_bytes(estimate_memory(path, spec, 1, 0, MemoryUse::Inference).total()) +
                " before its first step)");
  }
}

// The templates are header-only; instantiating them here checks them with the library's warnings.
template class reference::Network<float>;
template class reference::Network<double>;

}  // namespace scratchcnn
