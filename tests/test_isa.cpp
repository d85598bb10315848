// Runtime instruction-set dispatch (fast/isa.hpp): the levels, choosing one, what a network keeps,
// and SCRATCHCNN_ISA as the command-line tool sees it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "fast/layer.hpp"
#include "fast/network.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// What isa_info().chosen_by says of an automatic choice.
std::string auto_reason() {
  return fast::compiled_isas().size() > 1 ? "xsimd::dispatch" : "the build's only level";
}

// Restores the level active before the test.
class IsaApi : public testing::Test {
 protected:
  void SetUp() override { before_ = fast::active_isa(); }
  void TearDown() override { fast::set_isa(before_); }
  std::string before_;
};


}  // namespace

TEST_F(IsaApi, LevelsAreOrderedAndTheActiveOneIsSupported) {
  const auto compiled = fast::compiled_isas();
  const auto supported = fast::supported_isas();
  ASSERT_FALSE(compiled.empty());
  ASSERT_FALSE(supported.empty()) << "this CPU runs none of the compiled levels";
  // supported is compiled filtered, in the same (best-first) order.
  std::vector<std::string> filtered;
  for (const auto& l : compiled)
    if (contains(supported, l)) filtered.push_back(l);
  EXPECT_EQ(filtered, supported);
  EXPECT_TRUE(contains(supported, fast::active_isa()));
  if (compiled.size() > 1) {
    EXPECT_EQ(compiled, (std::vector<std::string>{"avx512f", "avx2", "sse4.2"}));
  }
}

TEST_F(IsaApi, AutoPicksTheBestSupportedLevel) {
  fast::set_isa("auto");
  EXPECT_EQ(fast::active_isa(), fast::supported_isas().front());
  EXPECT_EQ(fast::isa_info().chosen_by, auto_reason());
}

TEST_F(IsaApi, EveryLevelReportsItsWidthAndFma) {
  for (const std::string& level : fast::supported_isas()) {
    fast::set_isa(level);
    const fast::IsaInfo i = fast::isa_info();
    EXPECT_EQ(i.level, level);
    EXPECT_EQ(i.chosen_by, "set_isa");
    EXPECT_EQ(i.bits, fast::bit_class(level));
    EXPECT_EQ(fast::active_bit_class(), i.bits);
    EXPECT_FALSE(i.xsimd_arch.empty());
    if (level == "avx512f") {
      EXPECT_EQ(i.vector_floats, 16);
      EXPECT_TRUE(i.fused_fma);
    } else if (level == "avx2") {
      EXPECT_EQ(i.vector_floats, 8);
      EXPECT_TRUE(i.fused_fma);
      EXPECT_EQ(i.xsimd_arch, "fma3+avx2");
    } else if (level == "sse4.2") {
      EXPECT_EQ(i.vector_floats, 4);
      EXPECT_FALSE(i.fused_fma);
    } else if (level == "neon64") {
      // AArch64 (scripts/test-aarch64.sh): FMA is baseline; xsimd 8.1's fnma is not fused there.
      EXPECT_EQ(i.vector_floats, 4);
      EXPECT_TRUE(i.fused_fma);
    }
    EXPECT_TRUE(has(fast::isa_summary(), level + " (xsimd ")) << fast::isa_summary();
  }
}

TEST_F(IsaApi, UnknownLevelIsRefusedAndChangesNothing) {
  const std::string active = fast::active_isa();
  const std::string e = error_of([] { fast::set_isa("avx9"); });
  EXPECT_TRUE(has(e, "set_isa(\"avx9\"): unknown instruction-set level")) << e;
  for (const auto& l : fast::compiled_isas()) EXPECT_TRUE(has(e, l)) << e;
  EXPECT_EQ(fast::active_isa(), active);
}

TEST_F(IsaApi, SseAliasIsAccepted) {
  if (!contains(fast::supported_isas(), "sse4.2")) GTEST_SKIP() << "no sse4.2 level in this build";
  fast::set_isa("sse4_2");
  EXPECT_EQ(fast::active_isa(), "sse4.2");
}

// A network keeps the level it was made with, and computes exactly what a network made at that
// level computes, whatever becomes active later.
TEST_F(IsaApi, NetworkKeepsItsLevel) {
  const auto levels = fast::supported_isas();
  if (levels.size() < 2) GTEST_SKIP() << "this CPU runs one level only: " << levels.front();
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = Parameters::he_uniform(spec, 3);
  Rng rng(9);
  const int n = 40;
  const std::vector<float> images = random_images(rng, n, spec.input);
  const std::vector<int> labels = random_labels(rng, n, 10);
  const Batch batch{images.data(), labels.data(), n};

  fast::set_isa(levels.back());
  auto kept = fast::make_network(spec, p);
  auto twin = fast::make_network(spec, p);
  fast::set_isa(levels.front());
  const StepResult a = kept->sgd_step(batch, Sgd{0.1f});
  fast::set_isa(levels.back());
  const StepResult b = twin->sgd_step(batch, Sgd{0.1f});
  EXPECT_EQ(a.loss, b.loss);
  const Parameters pa = kept->parameters(), pb = twin->parameters();
  for (std::size_t l = 0; l < pa.layers.size(); ++l) {
    EXPECT_EQ(pa.layers[l].weights, pb.layers[l].weights) << "layer " << l;
    EXPECT_EQ(pa.layers[l].bias, pb.layers[l].bias) << "layer " << l;
  }
  const LayerSpec& conv = spec.layers[0];
  fast::set_isa(levels.front());
  const auto k = fast::make_kernel(conv, spec.info[0], p.layers[0].weights.data(),
                                   p.layers[0].bias.data());
  fast::set_isa(levels.back());
  EXPECT_EQ(std::string(k->isa()), levels.front());
}

TEST(IsaCli, InfoPrintsTheLevelAndEnvironmentForcesIt) {
  CliResult r = cli("info");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "fast kernels: " + fast::supported_isas().front() + " (")) << r.out;
  EXPECT_TRUE(has(r.out, "chosen by " + auto_reason())) << r.out;
  for (const std::string& level : fast::supported_isas()) {
    EnvVar env("SCRATCHCNN_ISA", level.c_str());
    r = cli("info");
    ASSERT_EQ(r.code, 0) << level << ": " << r.err;
    EXPECT_TRUE(has(r.out, "fast kernels: " + level + " (")) << r.out;
    EXPECT_TRUE(has(r.out, "chosen by SCRATCHCNN_ISA")) << r.out;
  }
  r = cli("info --isa-levels");
  ASSERT_EQ(r.code, 0) << r.err;
  std::string want;
  for (const std::string& level : fast::supported_isas()) want += level + "\n";
  EXPECT_EQ(r.out, want);
  EXPECT_EQ(cli("info --isa-levels --model seed").code, 2);
  EnvVar env("SCRATCHCNN_ISA", "auto");
  r = cli("info");
  EXPECT_TRUE(has(r.out, "fast kernels: " + fast::supported_isas().front() + " (")) << r.out;
}

TEST(IsaCli, BadLevelFailsEveryCommandBeforeItStarts) {
  EnvVar env("SCRATCHCNN_ISA", "avx9");
  const std::string out = temp_dir("isa-cli");
  for (const std::string& cmd : std::vector<std::string>{
           "info", "train --path reference --epochs 1 --save " + out + "/p.bin", "compare --epochs 1"}) {
    const CliResult r = cli(cmd);
    EXPECT_EQ(r.code, 1) << cmd;
    EXPECT_TRUE(has(r.err, "SCRATCHCNN_ISA=avx9: unknown instruction-set level (this build has: "))
        << cmd << ": " << r.err;
    EXPECT_EQ(r.out, "") << cmd;
  }
  EXPECT_FALSE(has(slurp(out + "/p.bin"), "SCNN"));
  // --help still works.
  EXPECT_EQ(cli("train --help").code, 0);
}

// A level the CPU cannot run is refused by name, not run into an illegal instruction.
TEST(IsaCli, LevelTheCpuLacksIsRefused) {
  std::string missing;
  for (const auto& l : fast::compiled_isas())
    if (!contains(fast::supported_isas(), l)) missing = l;
  if (missing.empty())
    GTEST_SKIP() << "this CPU runs every compiled level (" << fast::isa_summary()
                 << "); scripts/test-old-cpus.sh checks the refusal on an emulated Haswell";
  EnvVar env("SCRATCHCNN_ISA", missing.c_str());
  const CliResult r = cli("info");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "this CPU cannot run the " + missing + " kernels")) << r.err;
}
