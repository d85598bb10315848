#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/rng.hpp"

namespace scratchcnn::test {

// Whether this build runs under AddressSanitizer (gcc defines __SANITIZE_ADDRESS__, clang has
// __has_feature): its shadow memory rules out address-space limits (RLIMIT_AS, ulimit -v).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// The optdigits folder the data-dependent tests use: $SCRATCHCNN_TEST_DATA if set, else the
// full UCI files in ../shared/data/optdigits beside the checkout when present, else the data/
// folder that scripts/fetch-data.sh fills. Fails the calling test (never skips) when none has data.
std::string optdigits_dir();

// One file of optdigits rows in that folder: optdigits.tes where the UCI pair is there, else
// digits.csv.gz or digits.csv (a fresh machine without the UCI files).
std::string optdigits_rows_file();

// A fresh empty temporary folder, removed at process exit.
std::string temp_dir(const std::string& tag);

// Whether `part` occurs in `text`.
bool has(const std::string& text, const std::string& part);

// The message of the scratchcnn::Error that f throws. Fails the calling test when f throws nothing
// or another exception, and then returns "(no error)" so that checks on the message fail too.
std::string error_of(const std::function<void()>& f);

// The bytes of a file, read in binary mode; empty when it cannot be opened.
std::string slurp(const std::string& path);
// Writes (replaces) a file with `bytes`, in binary mode; returns the path.
std::string write_file(const std::string& path, const std::string& bytes);
// One gzip member holding `head` followed by `zeros` zero bytes, compressed as it goes (so a
// gigabyte of zeros never exists in memory).
std::string gzip(const std::string& head, std::uint64_t zeros = 0);

// A small learnable optdigits folder in a fresh temporary folder (temp_dir(tag)): `train` rows in
// optdigits.tra, then `test` rows in optdigits.tes; row r has label r % 10, 16 at the pixels
// whose index is the label modulo 10 and rng.below(4) elsewhere, rng = Rng(seed), drawn in file
// order.
std::string learnable_optdigits(const std::string& tag, std::uint64_t seed, int train = 60,
                                int test = 30);

// n images of shape s, pixels uniform in [0, 1) from rng; n labels uniform in 0..classes-1.
std::vector<float> random_images(Rng& rng, int n, const Shape& s);
std::vector<int> random_labels(Rng& rng, int n, int classes);
// n random images of `shape` with random labels in [0, classes), from Rng(seed).
data::Dataset random_dataset(std::uint64_t seed, int n, const Shape& shape, int classes);

// Appends v big-endian (the IDX headers' byte order).
void be32(std::string& out, std::uint32_t v);

// IDX files (the MNIST format, docs/file-formats.md): big-endian headers, then unsigned bytes.
// The headers alone: images (magic 0x803, count, rows, columns) and labels (0x801, count).
std::string idx_images_header(std::uint32_t n, std::uint32_t rows, std::uint32_t cols);
std::string idx_labels_header(std::uint32_t n);
// An IDX images file of n rows x cols images, pixel (i, y, x) = pixel(i, y, x), called in file order.
std::string idx_images_bytes(std::uint32_t n, std::uint32_t rows, std::uint32_t cols,
                             const std::function<unsigned char(std::uint32_t i, std::uint32_t y,
                                                               std::uint32_t x)>& pixel);
// An IDX labels file of n labels, label i = i % 10.
std::string labels_bytes(std::uint32_t n);

// Sets an environment variable for the scope's duration (the CLI runs inherit it), then restores it.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value);
  ~EnvVar();
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

// One run of the command-line tool: exit code (-1 when it did not exit normally) and output.
struct CliResult {
  int code = -1;
  std::string out, err;
};

// Runs SCRATCHCNN_CLI_PATH with `args` (shell words, quoted by the caller) and stdin from
// /dev/null, capturing stdout and stderr.
CliResult cli(const std::string& args);
// The same for any shell command line.
CliResult run_command(const std::string& command);

// A test suite run once per instruction-set level this CPU supports (fast::supported_isas(): the
// parity and determinism claims hold at every level), with that level active (fast::set_isa)
// while the test runs. A suite derives its fixture from IsaTest and instantiates itself with
// SCRATCHCNN_TEST_EVERY_ISA(Suite); its tests are named e.g. Isa/Parity.Step/avx2.
class IsaTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;

 private:
  std::string previous_;
};
std::string isa_test_name(const testing::TestParamInfo<std::string>& info);
std::vector<std::string> isa_test_levels();

}  // namespace scratchcnn::test

#define SCRATCHCNN_TEST_EVERY_ISA(Suite)                                                  \
  INSTANTIATE_TEST_SUITE_P(Isa, Suite, testing::ValuesIn(scratchcnn::test::isa_test_levels()), \
                           scratchcnn::test::isa_test_name)
