// Shape arithmetic in 64 bits against the limits of model_spec.hpp, and model-text errors that
// quote user text escaped and cut.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

std::string refusal(const std::string& text, Shape input) {
  return error_of([&] { parse_model(text, input); });
}

void expect_all(const std::string& msg, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_TRUE(has(msg, p)) << "missing '" << p << "' in: " << msg;
}

}  // namespace

TEST(Shapes, FlattenSizeNoLongerWrapsInInt) {
  // 2 x 65536 x 32769 = 2^32 + 131072: the flatten size wrapped to 131072 in int and
  // "flatten dense(131072,10)" was accepted.
  expect_all(refusal("flatten dense(131072,10)", Shape{2, 65536, 32769}),
             {"model input 2x65536x32769", "too large", "values per sample 4295098368",
              "the limit is 67108864"});
  const CliResult r = cli("info --input 2x65536x32769 --model \"flatten dense(131072,10)\"");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "values per sample 4295098368")) << r.err;
}

TEST(Shapes, EveryComputedSizeIsCheckedNamingLayerAndQuantity) {
  // The largest input, exactly at the limit, is accepted...
  EXPECT_EQ(parse_model("maxpool(1024) flatten dense(64,2)", Shape{1, 8192, 8192}).info[0].in.size(),
            std::int64_t(1) << 26);
  // ... and every size computed from it is checked.
  expect_all(refusal("conv(1,2,k=1) flatten dense(2,2)", Shape{1, 8192, 8192}),
             {"layer 1 'conv(1,2,k=1)'", "output values per sample 134217728"});
  expect_all(refusal("conv(1,1,k=3,pad=1) flatten dense(2,2)", Shape{1, 8192, 8192}),
             {"layer 1 'conv(1,1,k=3,pad=1)'", "padded input values"});
  expect_all(refusal("conv(1,1,k=1024) flatten dense(2,2)", Shape{1, 8000, 8000}),
             {"layer 1 'conv(1,1,k=1024)'", "padded output-gradient values"});
  expect_all(refusal("flatten dense(64,16777216) relu dense(16777216,10)", Shape{1, 8, 8}),
             {"layer 2 'dense(64,16777216)'", "parameters 1090519040", "the limit is 1073741824"});
  expect_all(refusal("conv(1,65536,k=128) flatten dense(2,2)", Shape{1, 128, 128}),
             {"layer 1 'conv(1,65536,k=128)'", "parameters 1073807360"});
  expect_all(refusal("conv(256,64,k=90) flatten dense(2,2)", Shape{256, 512, 512}),
             {"layer 1 'conv(256,64,k=90)'", "FLOPs per sample 47"});
  // Input dimensions given directly (not through parse_shape) are checked too.
  expect_all(refusal("flatten dense(2,2)", Shape{1, 1, 70000}), {"model input shape", "1..65536"});
}

TEST(Shapes, LimitsKeepChunkIndicesInInt) {
  // The fast path holds 16 samples of every per-sample buffer; its kernels index them with int.
  EXPECT_LE(kMaxSampleValues * 16, std::int64_t(1) << 31);
  EXPECT_LT(kMaxLayerParams, std::int64_t(1) << 31);
  EXPECT_LE(std::int64_t(kMaxDimension + 2 * kMaxWindow) * (kMaxDimension + 2 * kMaxWindow),
            std::int64_t(1) << 33);  // conv output height x width computed in 64 bits first
}

TEST(Shapes, ModelTextErrorsEscapeAndCutUserText) {
  const std::string binary = std::string("conv") + char(0xff) + char(0x01) + "\x1b[2J(1,2,k=3)";
  const std::string msg = refusal(binary + " flatten dense(128,10)", Shape{1, 8, 8});
  EXPECT_TRUE(has(msg, "'conv\\xff\\x01\\x1b[2J(1,2,k=3)'")) << msg;
  for (const char c : msg) {
    const unsigned char u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "raw byte " << int(u) << " in: " << msg;
  }
  // A 1 MB token is cut, its length named.
  const std::string huge(1 << 20, 'a');
  const std::string cut = refusal(huge, Shape{1, 8, 8});
  EXPECT_LT(cut.size(), 300u) << cut.substr(0, 400);
  EXPECT_TRUE(has(cut, "(1048576 bytes)")) << cut;
  // In arguments, unclosed parentheses, shapes and recorded model text alike.
  for (const std::string& text :
       {std::string("conv(1,2,k=\xfe)"), std::string("dense(\x7f,2)"), std::string("conv(1,2,k=3,\x80=1)"),
        std::string("conv(1,2,k=3 \xc3\x28"), std::string(100000, '(')}) {
    const std::string m = refusal(text, Shape{1, 8, 8});
    EXPECT_LT(m.size(), 400u);
    for (const char c : m) EXPECT_TRUE(static_cast<unsigned char>(c) < 0x80 && c != 0x7f) << m;
  }
  for (const std::string& text : {std::string("1x8\xffx8"), std::string(5000, 'x')}) {
    const std::string m = error_of([&] { parse_shape(text, "--input"); });
    EXPECT_TRUE(has(m, "--input")) << m;
    EXPECT_LT(m.size(), 300u) << m;
    EXPECT_EQ(m.find('\xff'), std::string::npos) << m;
  }
  const std::string rec = error_of([&] { parse_full_text(std::string(100000, '\x01')); });
  EXPECT_LT(rec.size(), 300u);
  // Through the CLI, the terminal never sees the raw bytes.
  const CliResult r = cli("info --model \"$(printf 'conv\\377\\001(1,2)')\"");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "'conv\\xff\\x01(1,2)'")) << r.err;
}

TEST(Shapes, RecordedModelTextIsEscapedToo) {
  // A parameter file whose model record holds raw bytes (re-sealed, so the checksum passes).
  const ModelSpec spec = parse_model("flatten dense(64,10)", Shape{1, 8, 8});
  std::string bytes = serialize_parameters(spec, Parameters::zeros(spec));
  const std::string record = spec.full_text();
  const auto at = bytes.find(record);
  ASSERT_NE(at, std::string::npos);
  std::string forged(record.size(), '\xff');
  forged[0] = '\x1b';
  bytes.replace(at, record.size(), forged);
  const std::uint64_t sum = fnv1a64(bytes.data(), bytes.size() - 8);
  std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  for (const std::string& msg :
       {error_of([&] { deserialize_parameters(bytes, spec, "p.bin"); }),
        error_of([&] { parameter_file_model(bytes, "p.bin"); })}) {
    EXPECT_TRUE(has(msg, "p.bin")) << msg;
    EXPECT_TRUE(has(msg, "\\x1b\\xff")) << msg;
    for (const char c : msg) EXPECT_TRUE(static_cast<unsigned char>(c) < 0x80 && c != 0x1b) << msg;
  }
}
