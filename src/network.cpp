#include "scratchcnn/network.hpp"

#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/network.hpp"
#include "scratchcnn/reference/network.hpp"

namespace scratchcnn {

PathKind parse_path(const std::string& text) {
  if (text == "reference") return PathKind::Reference;
  if (text == "fast") return PathKind::Fast;
  throw Error("--path: '" + text + "' is not a path (reference or fast)");
}

const char* path_name(PathKind p) { return p == PathKind::Reference ? "reference" : "fast"; }

std::unique_ptr<Network> make_network(PathKind path, const ModelSpec& spec, const Parameters& p) {
  check_parameters(spec, p);
  if (path == PathKind::Reference) return std::make_unique<reference::Network<float>>(spec, p);
  return fast::make_network(spec, p);
}

// The templates are header-only; instantiating them here checks them with the library's warnings.
template class reference::Network<float>;
template class reference::Network<double>;

}  // namespace scratchcnn
