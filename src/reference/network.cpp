// The reference path's two scalar types, instantiated once here (and so checked with the
// library's warnings).
#include "reference/network.hpp"

namespace scratchcnn::reference {

template class Network<float>;
template class Network<double>;

}  // namespace scratchcnn::reference
