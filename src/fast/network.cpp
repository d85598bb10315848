#include "scratchcnn/fast/network.hpp"

#include "scratchcnn/error.hpp"

namespace scratchcnn::fast {

std::unique_ptr<scratchcnn::Network> make_network(const ModelSpec&, const Parameters&) {
  throw Error("the fast path is not built yet");
}

}  // namespace scratchcnn::fast
