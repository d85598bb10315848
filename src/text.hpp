// Text helpers shared by the library's parsers (internal).
#pragma once
#include <string_view>

namespace scratchcnn {

// `s` without its leading and trailing characters of `chars` (by default white space as
// std::isspace has it in the C locale).
inline std::string_view trim(std::string_view s, std::string_view chars = " \t\n\v\f\r") {
  const std::size_t a = s.find_first_not_of(chars);
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(chars) - a + 1);
}

}  // namespace scratchcnn
