#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "scratchcnn/error.hpp"
#include "scratchcnn/parameters.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using test::error_of;
namespace fs = std::filesystem;

namespace {

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

// Published behaviour of the two generators, derived by hand from their definitions, so that a
// seed means the same numbers on every compiler and standard library.
TEST(Rng, SplitMix64SeedingMatchesItsDefinition) {
  const Rng r(0);
  EXPECT_EQ(r.state[0], 0xe220a8397b1dcdafULL);
  EXPECT_EQ(r.state[1], 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(r.state[2], 0x06c45d188009454fULL);
}

TEST(Rng, Xoshiro256StarStarFromState1234) {
  Rng r(0);
  const std::uint64_t init[4] = {1, 2, 3, 4};
  std::memcpy(r.state, init, sizeof init);
  EXPECT_EQ(r.next_u64(), 11520u);  // rotl(2 * 5, 7) * 9
  EXPECT_EQ(r.next_u64(), 0u);      // s[1] became 0 in the first step
  // By hand: s[3] = rotl(6, 45) after the first step, rotated by 45 again in the second.
  EXPECT_EQ(r.state[3], rotl(6, 26));
  EXPECT_EQ(r.next_u64(), 1509978240u);  // rotl(262149 * 5, 7) * 9
}

TEST(Rng, UniformAndBelowStayInRange) {
  Rng r(42);
  for (int i = 0; i < 10000; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ASSERT_LT(r.below(7), 7u);
  }
  EXPECT_NE(derive_seed(1, kSeedInit), derive_seed(1, kSeedShuffle));
  EXPECT_NE(derive_seed(1, kSeedInit), derive_seed(2, kSeedInit));
}

TEST(Parameters, HeUniformBoundsZeroBiasAndSeeding) {
  const ModelSpec spec = model_from_name("lenet5");
  const Parameters a = Parameters::he_uniform(spec, 1), b = Parameters::he_uniform(spec, 1),
                   c = Parameters::he_uniform(spec, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (!l.has_params()) continue;
    const double fan_in = l.kind == LayerKind::Conv ? l.in * l.k * l.k : l.in;
    const double bound = std::sqrt(6.0 / fan_in);
    double sum = 0, sq = 0;
    for (float w : a.layers[i].weights) {
      ASSERT_LE(std::abs(w), bound);
      sum += w;
      sq += double(w) * w;
    }
    for (float v : a.layers[i].bias) ASSERT_EQ(v, 0.0f);
    const double n = double(a.layers[i].weights.size());
    if (n >= 10000) {  // a uniform(-b, b) sample: mean 0, variance b^2 / 3
      EXPECT_NEAR(sum / n, 0.0, 0.02 * bound);
      EXPECT_NEAR(sq / n, bound * bound / 3, 0.03 * bound * bound / 3);
    }
  }
}

TEST(ParameterFile, RoundTripAndByteIdentical) {
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = Parameters::he_uniform(spec, 7);
  const std::string bytes = serialize_parameters(spec, p);
  EXPECT_EQ(bytes, serialize_parameters(spec, Parameters::he_uniform(spec, 7)));
  EXPECT_EQ(deserialize_parameters(bytes, spec, "mem"), p);
  const std::string dir = test::temp_dir("params");
  save_parameters(dir + "/a.bin", spec, p);
  save_parameters(dir + "/b.bin", spec, p);
  EXPECT_EQ(read_file(dir + "/a.bin"), read_file(dir + "/b.bin"));
  EXPECT_EQ(load_parameters(dir + "/a.bin", spec), p);
  EXPECT_EQ(parameter_file_model(bytes, "mem").full_text(), spec.full_text());
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(ParameterFile, RefusesTruncatedCorruptedForeignAndNewer) {
  const ModelSpec spec = model_from_name("seed");
  const std::string bytes = serialize_parameters(spec, Parameters::he_uniform(spec, 1));
  for (std::size_t cut : {std::size_t(0), std::size_t(5), std::size_t(20), bytes.size() / 2,
                          bytes.size() - 1}) {
    const std::string msg =
        error_of([&] { deserialize_parameters(bytes.substr(0, cut), spec, "p.bin"); });
    EXPECT_EQ(msg.rfind("p.bin: ", 0), 0u) << msg;
    EXPECT_TRUE(msg.find("truncated") != std::string::npos ||
                msg.find("corrupted") != std::string::npos ||
                msg.find("bad magic") != std::string::npos)
        << "cut " << cut << ": " << msg;
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  EXPECT_NE(error_of([&] { deserialize_parameters(flipped, spec, "p.bin"); }).find("checksum"),
            std::string::npos);

  const ModelSpec other = model_from_name("flatten dense(64,10)");
  const std::string foreign = error_of([&] { deserialize_parameters(bytes, other, "p.bin"); });
  EXPECT_NE(foreign.find("made for model '1x8x8: conv(1,2,k=3,pad=1)"), std::string::npos) << foreign;

  // A version-3 file with a valid checksum: refused as newer, not as corrupted.
  std::string newer = bytes.substr(0, bytes.size() - 8);
  newer[8] = 3;
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : newer) h = (h ^ ch) * 0x100000001b3ULL;
  newer.append(reinterpret_cast<const char*>(&h), 8);
  const std::string msg = error_of([&] { deserialize_parameters(newer, spec, "p.bin"); });
  EXPECT_NE(msg.find("version 3 is newer"), std::string::npos) << msg;
  // Version 2 holds batch norm's running statistics; for a model without batch norm it is corrupt.
  newer = bytes.substr(0, bytes.size() - 8);
  newer[8] = 2;
  h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : newer) h = (h ^ ch) * 0x100000001b3ULL;
  newer.append(reinterpret_cast<const char*>(&h), 8);
  EXPECT_TRUE(test::has(error_of([&] { deserialize_parameters(newer, spec, "p.bin"); }),
                  "p.bin: corrupted parameter file (version 2 for a model without batch norm)"));

  EXPECT_NE(error_of([&] { deserialize_parameters("not a parameter file at all", spec, "x"); })
                .find("bad magic"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_parameters("/nonexistent/p.bin", spec); }).find("/nonexistent/p.bin"),
            std::string::npos);
}

TEST(ParameterFile, RefusesNonFiniteValues) {
  const ModelSpec spec = model_from_name("flatten dense(64,10)");
  Parameters p = Parameters::he_uniform(spec, 1);
  p.layers[1].weights[3] = NAN;
  const std::string msg =
      error_of([&] { deserialize_parameters(serialize_parameters(spec, p), spec, "p.bin"); });
  EXPECT_NE(msg.find("layer 2 'dense(64,10)' holds a non-finite value"), std::string::npos) << msg;
}

TEST(ParameterFile, FailedWriteLeavesExistingFileAlone) {
  const ModelSpec spec = model_from_name("seed");
  const std::string dir = test::temp_dir("atomic");
  const std::string path = dir + "/p.bin";
  save_parameters(path, spec, Parameters::he_uniform(spec, 1));
  const std::string before = read_file(path);
  EXPECT_THROW(save_parameters(dir + "/missing/p.bin", spec, Parameters::he_uniform(spec, 2)), Error);
  // Wrong sizes are refused before anything is written.
  Parameters bad = Parameters::he_uniform(spec, 2);
  bad.layers[0].weights.pop_back();
  const std::string msg = error_of([&] { save_parameters(path, spec, bad); });
  EXPECT_NE(msg.find("layer 1 'conv(1,2,k=3,pad=1)'"), std::string::npos) << msg;
  EXPECT_EQ(read_file(path), before);
}
