#include "scratchcnn/error.hpp"

#include <cstdio>

namespace scratchcnn {

std::string excerpt(std::string_view text, std::size_t max) {
  std::string out = "'";
  const std::size_t shown = text.size() <= max ? text.size() : max;
  for (std::size_t i = 0; i < shown; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  out += "'";
  if (shown < text.size())
  {
    out.insert(out.size() - 1, "...");
    out += " (" + std::to_string(text.size()) + " bytes)";
  }
  return out;
}

}  // namespace scratchcnn
