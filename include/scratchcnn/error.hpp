#pragma once
#include <stdexcept>
#include <string>

namespace scratchcnn {

// Every failure the library reports to a caller: bad model text, shape mismatch, bad data file,
// bad parameter file, diverging training. The message names what and where.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace scratchcnn
