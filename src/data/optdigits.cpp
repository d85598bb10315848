#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/data/optdigits.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/memory.hpp"
#include "scratchcnn/files.hpp"
#include "core/text.hpp"

namespace scratchcnn::data {

namespace {

constexpr int kPixels = 64;
constexpr int kFields = kPixels + 1;
constexpr int kMaxPixel = 16;
constexpr int kClasses = 10;

// Lines of an input, each without its '\n', read a buffer at a time; a line longer than
// kMaxOptdigitsLine is refused as soon as that many bytes have come without a line end.
class Lines {
 public:
  explicit Lines(InputFile& in) : in_(in) {}

  // The next line; false at the end of the input (a last line without '\n' still counts).
  bool next(std::string& line, int line_no) {
    line.clear();
    for (;;) {
      if (pos_ == end_) {
        if (eof_) return !line.empty();
        end_ = in_.read(buf_.data(), buf_.size());
        pos_ = 0;
        if (end_ < buf_.size()) eof_ = true;
        if (end_ == 0) return !line.empty();
      }
      const char* begin = buf_.data() + pos_;
      const void* nl = std::memchr(begin, '\n', end_ - pos_);
      const std::size_t len = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - begin)
                                 : end_ - pos_;
      if (line.size() + len > kMaxOptdigitsLine) {
        line.append(begin, std::min(len, std::size_t(40)));
        throw Error(in_.name() + ":" + std::to_string(line_no) + ": line longer than " +
                    std::to_string(kMaxOptdigitsLine) + " bytes (an optdigits row is about 200), " +
                    "starting " + excerpt(std::string_view(line).substr(0, 40)));
      }
      line.append(begin, len);
      pos_ += len;
      if (nl) {
        ++pos_;
        return true;
      }
    }
  }

 private:
  InputFile& in_;
  std::string buf_ = std::string(std::size_t(1) << 16, '\0');
  std::size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
};

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

// A field or row without the blanks around it (spaces and tabs only: any other byte is refused).
std::string_view trim_blanks(std::string_view s) { return trim(s, " \t"); }

// A field that parsed as a number, for a message: as it is, unless it is long (leading zeros).
std::string number_text(std::string_view s) {
  return s.size() <= 40 ? std::string(s) : excerpt(s);
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
    const std::string_view text = trim_blanks(raw);
    long v = 0;
    if (!parse_value(text, v)) {
      throw Error(where + ": field " + std::to_string(field) +
                  " is not an integer: " + excerpt(raw));
    }
    if (field < kFields) {
      if (v < 0 || v > kMaxPixel) {
        throw Error(where + ": field " + std::to_string(field) + " (pixel) is " +
                    number_text(text) + ", outside 0.." + std::to_string(kMaxPixel));
      }
      ds.images.push_back(static_cast<float>(v) / 16.0f);
    } else {
      if (v < 0 || v >= kClasses) {
        throw Error(where + ": field " + std::to_string(field) + " (label) is " +
                    number_text(text) + ", outside 0.." + std::to_string(kClasses - 1));
      }
      ds.labels.push_back(static_cast<int>(v));
    }
  }
}

}  // namespace

Dataset load_optdigits(const std::string& path) {
  InputFile in(path, InputFile::Gzip::Auto);
  return load_optdigits(in);
}

Dataset parse_optdigits(const std::string& text, const std::string& path) {
  InputFile in = InputFile::from_bytes(text, path);
  return load_optdigits(in);
}

Dataset load_optdigits(InputFile& in) {
  const std::string& path = in.name();
  Dataset ds;
  ds.c = 1;
  ds.h = 8;
  ds.w = 8;
  ds.classes = kClasses;
  ds.source = path;

  // One final line end is allowed; any other empty line is an error, so that a file cut or pasted
  // together by hand does not load with rows silently missing.
  Lines lines(in);
  std::string line;
  int line_no = 0;
  while (lines.next(line, line_no + 1)) {
    ++line_no;
    if (line_no > kMaxOptdigitsRows)
      throw Error(path + ": more than " + std::to_string(kMaxOptdigitsRows) +
                  " rows, the most an optdigits file may hold here");
    std::string_view row(line);
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    const std::string where = path + ":" + std::to_string(line_no);
    if (trim_blanks(row).empty()) throw Error(where + ": blank line, expected 65 comma-separated fields");
    if (line_no % 4096 == 0)  // checked as the rows arrive: the file has no header to promise them
      check_input_size(path, std::to_string(line_no) + " rows and more",
                       std::uint64_t(line_no) * (64 * sizeof(float) + sizeof(int)));
    parse_row(row, where, ds);
  }
  if (line_no == 0) throw Error(path + ": empty file, expected rows of 64 pixels and a label");
  return ds;
}

}  // namespace scratchcnn::data
