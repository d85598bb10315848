#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/data/optdigits.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::data {

namespace {

constexpr int kPixels = 64;
constexpr int kFields = kPixels + 1;
constexpr int kMaxPixel = 16;
constexpr int kClasses = 10;

// Reads the whole file; zlib passes a file without a gzip header through unchanged, so one path
// serves optdigits.tra and digits.csv.gz alike.
std::string read_all(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    throw Error(path + ": cannot open: no such file");
  }
  if (std::filesystem::is_directory(status)) throw Error(path + ": cannot open: it is a folder");

  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    throw Error(path + ": cannot open: " + (err != 0 ? std::strerror(err) : "out of memory"));
  }
  std::string text;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    const int read_errno = errno;
    // A truncated gzip stream ends with n == 0 and Z_BUF_ERROR, not with n < 0.
    int zerr = Z_OK;
    std::string why = gzerror(f, &zerr);
    if (n < 0 || (n == 0 && zerr != Z_OK)) {
      if (zerr == Z_ERRNO) why = std::strerror(read_errno);
      // zlib puts the path in front of its own messages.
      if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
      gzclose(f);
      throw Error(path + ": read error: " + why);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  gzclose(f);
  return text;
}

// An integer, or a float with an all-zero fraction ("16.0"): files written by numpy use that form.
// Anything else (empty, "1.5", "7a", "+3", "1e1") is not a value. Large magnitudes saturate; the
// range checks then reject them.
bool parse_value(std::string_view s, long& out) {
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) ++i;
  const std::size_t digits_begin = i;
  long v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (v < 1'000'000'000L) v = v * 10 + (s[i] - '0');
    ++i;
  }
  if (i == digits_begin) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i == s.size()) return false;
    while (i < s.size() && s[i] == '0') ++i;
  }
  if (i != s.size()) return false;
  out = negative ? -v : v;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Quotes a field for a message, cutting it short so that a binary file gives a readable error.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 20;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

void parse_row(std::string_view line, const std::string& where, Dataset& ds) {
  int commas = 0;
  for (char c : line) commas += (c == ',');
  if (commas + 1 != kFields) {
    throw Error(where + ": expected " + std::to_string(kFields) + " comma-separated fields, got " +
                std::to_string(commas + 1));
  }
  std::size_t begin = 0;
  for (int field = 1; field <= kFields; ++field) {
    const std::size_t end = field < kFields ? line.find(',', begin) : line.size();
    const std::string_view raw = line.substr(begin, end - begin);
    begin = end + 1;
    const std::string_view text = trim(raw);
    long v = 0;
    if (!parse_value(text, v)) {
      throw Error(where + ": field " + std::to_string(field) +
                  " is not an integer: " + quoted(raw));
    }
    if (field < kFields) {
      if (v < 0 || v > kMaxPixel) {
        throw Error(where + ": field " + std::to_string(field) + " (pixel) is " +
                    std::string(text) + ", outside 0.." + std::to_string(kMaxPixel));
      }
      ds.images.push_back(static_cast<float>(v) / 16.0f);
    } else {
      if (v < 0 || v >= kClasses) {
        throw Error(where + ": field " + std::to_string(field) + " (label) is " +
                    std::string(text) + ", outside 0.." + std::to_string(kClasses - 1));
      }
      ds.labels.push_back(static_cast<int>(v));
    }
  }
}

}  // namespace

Dataset load_optdigits(const std::string& path) { return parse_optdigits(read_all(path), path); }

Dataset parse_optdigits(const std::string& text, const std::string& path) {
  if (text.empty()) throw Error(path + ": empty file, expected rows of 64 pixels and a label");

  Dataset ds;
  ds.c = 1;
  ds.h = 8;
  ds.w = 8;
  ds.classes = kClasses;
  ds.source = path;

  // One final line end is allowed; any other empty line is an error, so that a file cut or pasted
  // together by hand does not load with rows silently missing.
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    ++line_no;
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = path + ":" + std::to_string(line_no);
    if (trim(line).empty()) throw Error(where + ": blank line, expected 65 comma-separated fields");
    parse_row(line, where, ds);
  }
  return ds;
}

}  // namespace scratchcnn::data
