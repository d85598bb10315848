#pragma once
#include <memory>

#include "scratchcnn/network.hpp"

namespace scratchcnn::fast {

// The fast path behind the Network interface.
std::unique_ptr<scratchcnn::Network> make_network(const ModelSpec& spec, const Parameters& p);

}  // namespace scratchcnn::fast
