// Number and time formatting (format.hpp).
#include "format.hpp"

#include "core/text.hpp"

#include <charconv>
#include <cstdio>

namespace scratchcnn::cli {

std::string fixed(double v, int decimals) {
  // Sized first: %.Nf of a huge double has up to 309 digits before the point.
  const int n = std::snprintf(nullptr, 0, "%.*f", decimals, v);
  std::string s(static_cast<std::size_t>(n > 0 ? n : 0), '\0');
  std::snprintf(s.data(), s.size() + 1, "%.*f", decimals, v);
  return s;
}

std::string shortest(float v) { return shortest_float(v); }

std::string duration(double secs) {
  char b[64];
  if (secs < 60) std::snprintf(b, sizeof b, "%.0f s", secs);
  else std::snprintf(b, sizeof b, "%d:%02d min", int(secs) / 60, int(secs) % 60);
  return b;
}

}  // namespace scratchcnn::cli
