// The tool's JSON writer (json.hpp).
#include "json.hpp"

#include "format.hpp"

#include <cmath>
#include <cstdio>

namespace scratchcnn::cli::json {

std::string quote(const std::string& s) {
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

std::string number(double v, int significant) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", significant, v);
  return b;
}

std::string fixed(double v, int decimals) {
  return std::isfinite(v) ? cli::fixed(v, decimals) : "null";
}

std::string integer(long long v) { return std::to_string(v); }

std::string array(const std::vector<std::string>& items) {
  std::string s = "[";
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i];
  return s + "]";
}

std::string rows(const std::vector<std::string>& items) {
  std::string s = "[";
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? ",\n    " : "\n    ") + items[i];
  return s + "\n  ]";
}

Object& Object::add(const std::string& key, const std::string& value) {
  members_ += (members_.empty() ? "  " : ",\n  ") + quote(key) + ": " + value;
  return *this;
}

std::string Object::str() const { return "{\n" + members_ + "\n}\n"; }

}  // namespace scratchcnn::cli::json
