// Number and time formatting (format.hpp).
#include "format.hpp"

#include <charconv>
#include <cstdio>

namespace scratchcnn::cli {

std::string fixed(double v, int decimals) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string shortest(float v) {
  char b[64];
  const auto r = std::to_chars(b, b + sizeof b, v);
  return std::string(b, r.ptr);
}

std::string duration(double secs) {
  char b[64];
  if (secs < 60) std::snprintf(b, sizeof b, "%.0f s", secs);
  else std::snprintf(b, sizeof b, "%d:%02d min", int(secs) / 60, int(secs) % 60);
  return b;
}

}  // namespace scratchcnn::cli
