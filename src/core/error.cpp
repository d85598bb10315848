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

namespace {

// The length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  unsigned min = 0;  // the smallest code point of that length: no overlong forms
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  unsigned cp = c & (0x7f >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Valid UTF-8 that a terminal may still act on: the C1 controls U+0080..U+009F (U+009B is CSI)
// and the bidirectional overrides and isolates U+202A..U+202E, U+2066..U+2069.
bool is_control_sequence(std::string_view s) {
  if (s.size() == 2) return static_cast<unsigned char>(s[0]) == 0xc2 &&
                            static_cast<unsigned char>(s[1]) < 0xa0;
  if (s.size() != 3) return false;
  const unsigned char a = static_cast<unsigned char>(s[0]), b = static_cast<unsigned char>(s[1]),
                      c = static_cast<unsigned char>(s[2]);
  return a == 0xe2 && ((b == 0x80 && c >= 0xaa && c <= 0xae) || (b == 0x81 && c >= 0xa6 && c <= 0xa9));
}

}  // namespace

std::string terminal_safe(std::string_view message, std::size_t max) {
  std::string out;
  std::size_t i = 0;
  while (i < message.size() && out.size() < max) {
    const unsigned char c = static_cast<unsigned char>(message[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = c >= 0x80 ? utf8_length(message, i) : 0;
               n > 0 && !is_control_sequence(message.substr(i, n))) {
      out.append(message.substr(i, n));
      i += n;
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
      ++i;
    }
  }
  if (i < message.size())
    out += "... (" + std::to_string(message.size()) + " bytes)";
  return out;
}

}  // namespace scratchcnn
