#include "test_support.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

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

}  // namespace scratchcnn::test
