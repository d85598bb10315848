// Shared parts of the command-line tool (common.hpp).
#include "common.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace scratchcnn::cli {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_array(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char b[64];
    std::snprintf(b, sizeof b, "%.9g", v[i]);
    s += (i ? ", " : "") + std::string(b);
  }
  return s + "]";
}

}  // namespace scratchcnn::cli
