#pragma once
// Number and time formatting of the command-line tool's output.
#include <string>

#include "core/text.hpp"  // with_commas, shared with the library's messages

namespace scratchcnn::cli {

// `v` with `decimals` digits after the point.
std::string fixed(double v, int decimals);
// The shortest text that reads back as the same float: "0.1", not "0.100000001".
std::string shortest(float v);
// "42 s" under a minute, else "3:07 min".
std::string duration(double secs);

}  // namespace scratchcnn::cli
