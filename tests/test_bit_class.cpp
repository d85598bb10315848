// Bit classes (fast/isa.hpp bit_class): levels that compute the same bits share a class, and the
// checkpoint records the class, so avx2 and avx512f write the same field, resume across each other
// silently, and read the level names of older builds as their class.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "checkpoint_bytes.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using test::cli;
using test::CliResult;
using test::EnvVar;
using test::has;
using test::slurp;

namespace {

bool runs(const std::string& level) {
  const auto l = fast::supported_isas();
  return std::find(l.begin(), l.end(), level) != l.end();
}

// Skips unless this CPU runs every level named.
#define REQUIRE_LEVELS(...)                                                     \
  for (const char* level_ : {__VA_ARGS__})                                      \
    if (!runs(level_)) GTEST_SKIP() << "this CPU does not run " << level_;

std::string tiny_data() { return test::learnable_optdigits("bits-data", 12); }

const std::string kOpts = " --path fast --batch 16 --momentum 0.9";

// `train` at SCRATCHCNN_ISA=level; returns the result.
CliResult train_at(const std::string& level, const std::string& args) {
  EnvVar env("SCRATCHCNN_ISA", level.c_str());
  return cli("train" + kOpts + " " + args);
}

// Where the recorded class (its u32 length) lies in a version 2 checkpoint of `epochs` epochs:
// before the history count and the history, 3 f64 per epoch, and the checksum.
std::size_t class_at(const std::string& bytes, std::size_t length, int epochs) {
  return bytes.size() - 8 - 24 * std::size_t(epochs) - 4 - length - 4;
}

// The checkpoint `bytes` (version 2, `epochs` epochs) with `value` recorded instead of what it
// holds, resealed: what an older build wrote.
std::string with_recorded(std::string bytes, int epochs, const std::string& value) {
  const std::string now = deserialize_checkpoint(bytes, "c.bin").state.isa;
  const std::size_t at = class_at(bytes, now.size(), epochs);
  std::string field;
  test::put<std::uint32_t>(field, static_cast<std::uint32_t>(value.size()));
  field += value;
  bytes.replace(at, 4 + now.size(), field);
  return test::resealed(bytes);
}

}  // namespace

TEST(BitClass, MapsLevelsToTheirClass) {
  EXPECT_EQ(fast::bit_class("avx512f"), "x86-fma");
  EXPECT_EQ(fast::bit_class("avx2"), "x86-fma");
  EXPECT_EQ(fast::bit_class("sse4.2"), "sse4.2");
  EXPECT_EQ(fast::bit_class("sse4_2"), "sse4.2");
  EXPECT_EQ(fast::bit_class("reference"), "reference");
  // A class is its own class, so a recorded value reads the same whichever build wrote it.
  EXPECT_EQ(fast::bit_class("x86-fma"), "x86-fma");
  EXPECT_EQ(fast::bit_class(""), "");
  EXPECT_EQ(fast::bit_class("avx9"), "avx9");
  // Every level of this build: the FMA levels share a class, the others have their own.
  for (const std::string& level : fast::compiled_isas()) {
    const std::string c = fast::bit_class(level);
    if (level == "avx512f" || level == "avx2") {
      EXPECT_EQ(c, "x86-fma") << level;
    }
    if (level == "sse4.2") {
      EXPECT_EQ(c, "sse4.2");
    }
    EXPECT_EQ(fast::bit_class(c), c) << level;
  }
}

TEST(BitClass, ActiveClassFollowsTheLevel) {
  const std::string before = fast::active_isa();
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    EXPECT_EQ(fast::active_bit_class(), fast::bit_class(level)) << level;
    EXPECT_EQ(fast::isa_info().bits, fast::bit_class(level)) << level;
  }
  fast::set_isa(before);
}

// A run at avx2 and one at avx512f record the same bytes in the field: "x86-fma"; sse4.2 records
// "sse4.2". (Only the field: the parameters are the business of the kernels.)
TEST(BitClass, Avx2AndAvx512fRecordTheSameClass) {
  REQUIRE_LEVELS("avx512f", "avx2");
  const std::string dir = test::temp_dir("bits-record");
  const std::string data = " --data " + tiny_data() + " --epochs 1";
  std::vector<std::string> fields;
  for (const char* level : {"avx512f", "avx2"}) {
    const std::string file = dir + "/" + level + ".bin";
    const CliResult r = train_at(level, data + " --save " + file);
    ASSERT_EQ(r.code, 0) << level << ": " << r.err;
    EXPECT_EQ(load_checkpoint(file).state.isa, "x86-fma") << level;
    const std::string bytes = slurp(file);
    const std::size_t at = class_at(bytes, 7, 1);
    fields.push_back(bytes.substr(at, 4 + 7));
  }
  EXPECT_EQ(fields[0], fields[1]);
  EXPECT_EQ(fields[0].substr(4), "x86-fma");
  if (runs("sse4.2")) {
    ASSERT_EQ(train_at("sse4.2", data + " --save " + dir + "/sse.bin").code, 0);
    EXPECT_EQ(load_checkpoint(dir + "/sse.bin").state.isa, "sse4.2");
  }
}

// avx2 <-> avx512f: one class, so a resume across them warns of nothing and records the class.
TEST(BitClass, ResumeAcrossAvx2AndAvx512fIsSilent) {
  REQUIRE_LEVELS("avx512f", "avx2");
  const std::string dir = test::temp_dir("bits-resume");
  const std::string data = " --data " + tiny_data();
  for (const auto& [from, to] : {std::pair{"avx2", "avx512f"}, std::pair{"avx512f", "avx2"}}) {
    const std::string part = dir + "/" + from + ".bin";
    ASSERT_EQ(train_at(from, data + " --epochs 1 --save " + part).code, 0);
    const CliResult r = train_at(to, data + " --resume " + part + " --epochs 2 --save " + part);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(has(r.err, "warning")) << from << " -> " << to << ": " << r.err;
    EXPECT_EQ(load_checkpoint(part).state.isa, "x86-fma");
  }
}

// sse4.2 <-> x86-fma: two classes; the warning names both and the level that gets the
// checkpoint's bits back on this CPU.
TEST(BitClass, ResumeAcrossSse42AndAvx2Warns) {
  REQUIRE_LEVELS("avx2", "sse4.2");
  const std::string dir = test::temp_dir("bits-warn");
  const std::string data = " --data " + tiny_data();
  const std::string best_fma = fast::supported_isas().front();  // avx512f where the CPU runs it
  ASSERT_EQ(fast::bit_class(best_fma), "x86-fma");
  ASSERT_EQ(train_at("sse4.2", data + " --epochs 1 --save " + dir + "/sse.bin").code, 0);
  ASSERT_EQ(train_at("avx2", data + " --epochs 1 --save " + dir + "/fma.bin").code, 0);

  CliResult r = train_at("avx2", data + " --resume " + dir + "/sse.bin --epochs 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "warning: " + dir + "/sse.bin was trained in bit class sse4.2, this run "
                         "trains in bit class x86-fma (level avx2): the result will not be bit "
                         "for bit"))
      << r.err;
  EXPECT_TRUE(has(r.err, "resume with SCRATCHCNN_ISA=sse4.2 to continue bit for bit")) << r.err;

  r = train_at("sse4.2", data + " --resume " + dir + "/fma.bin --epochs 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "warning: " + dir + "/fma.bin was trained in bit class x86-fma, this run "
                         "trains in bit class sse4.2: "))
      << r.err;
  EXPECT_TRUE(has(r.err, "resume with SCRATCHCNN_ISA=" + best_fma + " to continue bit for bit"))
      << r.err;
}

// A checkpoint of an older build, which recorded the level "avx512f", reads as class x86-fma: it
// resumes at avx2 without a warning (and records the class), warns at sse4.2 naming the class and
// the recorded level, and eval names both. An old "sse4.2" is class sse4.2.
TEST(BitClass, OldLevelNamesReadAsTheirClass) {
  REQUIRE_LEVELS("avx512f", "avx2");
  const std::string dir = test::temp_dir("bits-old");
  const std::string data_dir = tiny_data(), data = " --data " + data_dir;
  ASSERT_EQ(train_at("avx512f", data + " --epochs 1 --save " + dir + "/new.bin").code, 0);
  const std::string old = with_recorded(slurp(dir + "/new.bin"), 1, "avx512f");
  test::write_file(dir + "/old.bin", old);
  EXPECT_EQ(load_checkpoint(dir + "/old.bin").state.isa, "avx512f");

  CliResult r = train_at("avx2", data + " --resume " + dir + "/old.bin --epochs 2 --save " + dir +
                                     "/resumed.bin");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(has(r.err, "warning")) << r.err;
  EXPECT_EQ(load_checkpoint(dir + "/resumed.bin").state.isa, "x86-fma");

  {
    EnvVar env("SCRATCHCNN_ISA", "avx2");
    r = cli("eval --checkpoint " + dir + "/old.bin" + data);
  }
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "bits      trained in x86-fma (recorded as level avx512f), evaluated in "
                         "x86-fma (level avx2)\n"))
      << r.out;

  if (runs("sse4.2")) {
    r = train_at("sse4.2", data + " --resume " + dir + "/old.bin --epochs 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(has(r.err, "was trained in bit class x86-fma (recorded as level avx512f), this run "
                           "trains in bit class sse4.2: "))
        << r.err;
    // An older build's sse4.2 checkpoint: the same bytes as this build's.
    ASSERT_EQ(train_at("sse4.2", data + " --epochs 1 --save " + dir + "/sse.bin").code, 0);
    const std::string sse = slurp(dir + "/sse.bin");
    EXPECT_EQ(with_recorded(sse, 1, "sse4.2"), sse);
    r = train_at("sse4.2", data + " --resume " + dir + "/sse.bin --epochs 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(has(r.err, "warning")) << r.err;
  }
}
