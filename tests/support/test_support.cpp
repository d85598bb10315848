#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <zlib.h>

#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace fs = std::filesystem;

namespace scratchcnn::test {

namespace {
bool has_optdigits(const fs::path& dir) {
  return (fs::exists(dir / "optdigits.tra") && fs::exists(dir / "optdigits.tes")) ||
         fs::exists(dir / "digits.csv.gz") || fs::exists(dir / "digits.csv");
}

struct TempDirs {
  std::vector<fs::path> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (const auto& d : dirs) fs::remove_all(d, ec);
  }
};
TempDirs& temp_dirs() {
  static TempDirs t;
  return t;
}
}  // namespace

std::string optdigits_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("SCRATCHCNN_TEST_DATA")) candidates.emplace_back(env);
  candidates.push_back(fs::path(SCRATCHCNN_SOURCE_DIR) / ".." / "shared" / "data" / "optdigits");
  candidates.push_back(fs::path(SCRATCHCNN_SOURCE_DIR) / "data");
  for (const auto& c : candidates)
    if (has_optdigits(c)) return fs::canonical(c).string();
  ADD_FAILURE() << "no optdigits data: run scripts/fetch-data.sh (fills " << SCRATCHCNN_SOURCE_DIR
                << "/data) or set SCRATCHCNN_TEST_DATA";
  return {};
}

void be32(std::string& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xff));
}

std::string idx_images_header(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  std::string b;
  be32(b, 0x00000803);
  be32(b, n);
  be32(b, rows);
  be32(b, cols);
  return b;
}

std::string idx_labels_header(std::uint32_t n) {
  std::string b;
  be32(b, 0x00000801);
  be32(b, n);
  return b;
}

std::string idx_images_bytes(std::uint32_t n, std::uint32_t rows, std::uint32_t cols,
                             const std::function<unsigned char(std::uint32_t i, std::uint32_t y,
                                                               std::uint32_t x)>& pixel) {
  std::string b = idx_images_header(n, rows, cols);
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t y = 0; y < rows; ++y)
      for (std::uint32_t x = 0; x < cols; ++x) b.push_back(static_cast<char>(pixel(i, y, x)));
  return b;
}

std::string labels_bytes(std::uint32_t n) {
  std::string b = idx_labels_header(n);
  for (std::uint32_t i = 0; i < n; ++i) b.push_back(static_cast<char>(i % 10));
  return b;
}

EnvVar::EnvVar(const char* name, const char* value) : name_(name) {
  const char* old = std::getenv(name);
  had_ = old != nullptr;
  if (had_) old_ = old;
  ::setenv(name, value, 1);
}

EnvVar::~EnvVar() {
  if (had_)
    ::setenv(name_, old_.c_str(), 1);
  else
    ::unsetenv(name_);
}

std::string optdigits_rows_file() {
  const std::string dir = optdigits_dir();
  for (const char* name : {"optdigits.tes", "digits.csv.gz", "digits.csv"})
    if (fs::is_regular_file(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  ADD_FAILURE() << "no optdigits rows in " << dir;
  return {};
}

std::string temp_dir(const std::string& tag) {
  const fs::path base = fs::temp_directory_path();
  for (int i = 0;; ++i) {
    fs::path p = base / ("scratchcnn-" + tag + "-" + std::to_string(::getpid()) + "-" +
                         std::to_string(i));
    std::error_code ec;
    if (fs::create_directory(p, ec)) {
      temp_dirs().dirs.push_back(p);
      return p.string();
    }
  }
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-scratchcnn exception: " << e.what();
    return "(no error)";
  }
  ADD_FAILURE() << "did not throw";
  return "(no error)";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

std::string learnable_optdigits(const std::string& tag, std::uint64_t seed, int train, int test) {
  const std::string dir = temp_dir(tag);
  Rng rng(seed);
  for (const auto& [name, rows] : {std::pair{"optdigits.tra", train}, std::pair{"optdigits.tes", test}}) {
    std::ofstream f(dir + "/" + name);
    for (int r = 0; r < rows; ++r) {
      const int label = r % 10;
      for (int i = 0; i < 64; ++i) f << ((i % 10 == label) ? 16 : int(rng.below(4))) << ",";
      f << label << "\n";
    }
  }
  return dir;
}

// One gzip member holding `head` followed by `zeros` zero bytes, compressed as it goes (so a
// gigabyte of zeros never exists in memory).
std::string gzip(const std::string& head, std::uint64_t zeros) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 9,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out;
  std::vector<char> buf(1 << 16);
  const std::string zero_chunk(std::size_t(1) << 20, '\0');
  auto feed = [&](const char* data, std::size_t n, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf.data());
      z.avail_out = static_cast<uInt>(buf.size());
      deflate(&z, flush);
      out.append(buf.data(), buf.size() - z.avail_out);
    } while (z.avail_out == 0 || (flush == Z_FINISH && z.avail_in > 0));
  };
  feed(head.data(), head.size(), Z_NO_FLUSH);
  for (std::uint64_t left = zeros; left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, zero_chunk.size()));
    feed(zero_chunk.data(), n, Z_NO_FLUSH);
    left -= n;
  }
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&z);
  return out;
}

CliResult run_command(const std::string& command) {
  static const std::string dir = temp_dir("cli-out");
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  const std::string cmd = command + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

CliResult cli(const std::string& args) {
  return run_command(std::string("'") + SCRATCHCNN_CLI_PATH + "' " + args);
}

std::vector<float> random_images(Rng& rng, int n, const Shape& s) {
  std::vector<float> v(std::size_t(n) * s.size());
  for (float& x : v) x = float(rng.uniform());
  return v;
}

std::vector<int> random_labels(Rng& rng, int n, int classes) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int& l : v) l = int(rng.below(std::uint64_t(classes)));
  return v;
}

data::Dataset random_dataset(std::uint64_t seed, int n, const Shape& shape, int classes) {
  Rng rng(seed);
  data::Dataset d;
  d.c = shape.c;
  d.h = shape.h;
  d.w = shape.w;
  d.classes = classes;
  d.images = random_images(rng, n, shape);
  d.labels = random_labels(rng, n, classes);
  return d;
}

void IsaTest::SetUp() {
  previous_ = fast::active_isa();
  fast::set_isa(GetParam());
  ASSERT_EQ(fast::active_isa(), GetParam());
}

void IsaTest::TearDown() {
  if (!previous_.empty()) fast::set_isa(previous_);
}

std::string isa_test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

std::vector<std::string> isa_test_levels() { return fast::supported_isas(); }

}  // namespace scratchcnn::test
