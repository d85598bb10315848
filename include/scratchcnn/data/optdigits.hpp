#pragma once
#include <string>

#include "scratchcnn/data/dataset.hpp"

namespace scratchcnn::data {

// Parses optdigits rows already in memory (what load_optdigits reads from a file); `name` stands
// for the file in error messages ("name:line: ..."). Same rules and errors as load_optdigits.
Dataset parse_optdigits(const std::string& text, const std::string& name);

}  // namespace scratchcnn::data
