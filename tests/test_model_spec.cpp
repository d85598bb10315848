#include <gtest/gtest.h>

#include <string>

#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"

using namespace scratchcnn;

namespace {

// The message of the Error that parsing `text` throws, or "" if it parses.
std::string parse_error(const std::string& text, Shape input = Shape{1, 8, 8}) {
  try {
    parse_model(text, input);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelSpec, SeedModelShapesParamsAndFlops) {
  const ModelSpec s = model_from_name("seed");
  EXPECT_EQ(s.text(), kSeedModelText);
  EXPECT_EQ(s.full_text(), std::string("1x8x8: ") + kSeedModelText);
  ASSERT_EQ(s.layers.size(), 9u);
  const char* outs[] = {"2x8x8", "2x8x8", "4x8x8", "4x8x8", "4x4x4", "64", "32", "32", "10"};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(s.info[i].out.str(), outs[i]) << "layer " << i + 1;
  // conv1 2*1*9+2, conv2 4*2*9+4, dense 64*32+32, dense 32*10+10
  EXPECT_EQ(s.param_count(), 20 + 76 + 2080 + 330);
  // 2*out*H*W*in*k*k for conv, 2*in*out for dense, 1 per element for relu and max-pool input.
  EXPECT_EQ(s.info[0].flops, 2 * 2 * 64 * 1 * 9);
  EXPECT_EQ(s.info[2].flops, 2 * 4 * 64 * 2 * 9);
  EXPECT_EQ(s.info[4].flops, 256);
  EXPECT_EQ(s.info[5].flops, 0);
  EXPECT_EQ(s.forward_flops(), 2304 + 128 + 9216 + 256 + 256 + 0 + 4096 + 32 + 640);
  EXPECT_EQ(s.classes(), 10);
}

TEST(ModelSpec, Lenet5Shapes) {
  const ModelSpec s = model_from_name("lenet5");
  EXPECT_EQ(s.input.str(), "1x28x28");
  const char* outs[] = {"6x28x28", "6x28x28", "6x14x14", "16x10x10", "16x10x10", "16x5x5",
                        "400",     "120",     "120",     "84",       "84",       "10"};
  ASSERT_EQ(s.layers.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(s.info[i].out.str(), outs[i]) << "layer " << i + 1;
  EXPECT_EQ(s.param_count(), 156 + 2416 + 48120 + 10164 + 850);
}

TEST(ModelSpec, Lenet5Of1998HasLenet5sShapesWithTanhAndAveragePools) {
  const ModelSpec s = model_from_name("lenet5-1998"), relu = model_from_name("lenet5");
  EXPECT_EQ(s.input.str(), "1x28x28");
  ASSERT_EQ(s.layers.size(), relu.layers.size());
  for (std::size_t i = 0; i < s.layers.size(); ++i) {
    EXPECT_EQ(s.info[i].out, relu.info[i].out) << "layer " << i + 1;
    const LayerKind k = relu.layers[i].kind;
    EXPECT_EQ(s.layers[i].kind, k == LayerKind::ReLU      ? LayerKind::Tanh
                                : k == LayerKind::MaxPool ? LayerKind::AvgPool
                                                          : k)
        << "layer " << i + 1;
  }
  EXPECT_EQ(s.param_count(), relu.param_count());
  // Every built-in is found by its name and parses for its own input.
  for (const BuiltinModel& b : kBuiltinModels) {
    ASSERT_NE(find_builtin(b.name), nullptr) << b.name;
    EXPECT_EQ(model_from_name(b.name).input, b.input) << b.name;
  }
  EXPECT_EQ(find_builtin("lenet"), nullptr);
}

TEST(ModelSpec, TableIWithPoolFourIsRejected) {
  const std::string msg = parse_error(
      "conv(1,2,k=3,pad=1) relu conv(2,4,k=3,pad=1) relu maxpool(4) flatten dense(64,32) relu "
      "dense(32,10)");
  EXPECT_NE(msg.find("layer 7 'dense(64,32)'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expects 64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gets 16"), std::string::npos) << msg;
}

TEST(ModelSpec, TextIsForgivingAboutSpacesAndCanonicalOnOutput) {
  const ModelSpec s = parse_model("conv( 1 , 3, k=3 ,pad=0 )  relu flatten dense (108, 4)");
  EXPECT_EQ(s.text(), "conv(1,3,k=3) relu flatten dense(108,4)");
  EXPECT_EQ(parse_full_text(s.full_text()).full_text(), s.full_text());
}

TEST(ModelSpec, InputOverride) {
  const Shape in = parse_shape("3x7x5");
  const ModelSpec s = parse_model("conv(3,2,k=1) flatten dense(70,3)", in);
  EXPECT_EQ(s.info[0].out.str(), "2x7x5");
  // The seed model on 16x16 images flattens 256 values into dense(64,32): refused.
  const Shape big = parse_shape("1x16x16");
  try {
    model_from_name("seed", &big);
    ADD_FAILURE() << "seed model accepted 1x16x16";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expects 64 inputs, gets 256"), std::string::npos) << e.what();
  }
}

struct BadSpec {
  const char* text;
  const char* expect[3];
};

TEST(ModelSpec, EveryMismatchNamesLayerAndSizes) {
  const BadSpec cases[] = {
      {"conv(2,4,k=3) flatten dense(144,10)", {"layer 1 'conv(2,4,k=3)'", "expects 2 input channels", "gets 1"}},
      {"conv(1,2,k=9) flatten dense(2,10)", {"layer 1", "kernel 9", "does not fit input 1x8x8"}},
      {"maxpool(3) flatten dense(4,10)", {"layer 1 'maxpool(3)'", "divisible by 3", "1x8x8"}},
      {"avgpool(3) flatten dense(4,10)", {"layer 1 'avgpool(3)'", "cover the input exactly", "1x8x8"}},
      {"avgpool(3,stride=2) flatten dense(4,10)", {"layer 1 'avgpool(3,stride=2)'", "moved by 2", "1x8x8"}},
      {"avgpool(2,pad=1) flatten", {"layer 1", "unexpected argument 'pad=1'", "avgpool(K,stride=S)"}},
      {"avgpool(2,stride=0) flatten", {"layer 1", "stride", ""}},
      {"flatten gap dense(64,10)", {"layer 2 'gap'", "flat vector of 64", ""}},
      {"gap(2) flatten dense(1,10)", {"layer 1", "takes no arguments", "'gap'"}},
      {"dense(64,10)", {"layer 1 'dense(64,10)'", "flat vector of 64", "add 'flatten'"}},
      {"flatten dense(60,10)", {"layer 2 'dense(60,10)'", "expects 60", "gets 64"}},
      {"flatten flatten dense(64,10)", {"layer 2 'flatten'", "already flat", ""}},
      {"flatten dense(64,10) conv(10,2,k=1)", {"layer 3", "flat vector", ""}},
      {"conv(1,2,k=3)", {"last layer", "6x6", "flat vector"}},
      {"flatten dense(64,1)", {"1 value", "2 classes", ""}},
      {"flatten dense(64,10) softmax", {"layer 3 'softmax'", "unknown layer kind", ""}},
      {"conv(1,2) flatten dense(128,10)", {"layer 1 'conv(1,2)'", "expects the form", "k=K"}},
      {"conv(1,2,k=x) flatten dense(128,10)", {"layer 1", "kernel size k", "'x' is not an integer"}},
      {"conv(1,2,k=3,dilation=2) flatten", {"layer 1", "unexpected argument 'dilation=2'", "stride=S"}},
      {"conv(1,2,k=3,stride=0) flatten dense(72,10)", {"layer 1", "stride: 0 is outside 1..1024", ""}},
      {"conv(1,2,k=3,stride=1025) flatten", {"layer 1", "stride", "outside 1..1024"}},
      {"conv(1,2,k=3,stride=2,stride=2) flatten", {"layer 1", "unexpected argument 'stride=2'", ""}},
      {"conv(1,2,k=3,pad=1,pad=1) flatten", {"layer 1", "unexpected argument 'pad=1'", ""}},
      {"conv(1,2,stride=2,k=3) flatten", {"layer 1", "unexpected argument 'stride=2'", "k=K"}},
      {"conv(1,2,k=9,stride=2) flatten dense(2,10)",
       {"layer 1 'conv(1,2,k=9,stride=2)'", "kernel 9", "does not fit input 1x8x8"}},
      {"conv(1,2,k=3,stride=2,pad=1) flatten dense(50,10)",
       {"layer 3 'dense(50,10)'", "expects 50", "gets 32"}},
      {"maxpool flatten dense(64,10)", {"layer 1 'maxpool'", "needs arguments", "maxpool(K)"}},
      {"relu(3) flatten dense(64,10)", {"layer 1 'relu(3)'", "takes no arguments", ""}},
      {"conv(1,2,k=3 flatten", {"unclosed '('", "", ""}},
      {"dense(0,10)", {"layer 1", "inputs", "outside"}},
      {"", {"no layers", "", ""}},
  };
  for (const auto& c : cases) {
    const std::string msg = parse_error(c.text);
    ASSERT_FALSE(msg.empty()) << "accepted: " << c.text;
    for (const char* e : c.expect)
      EXPECT_NE(msg.find(e), std::string::npos) << "text: " << c.text << "\nmessage: " << msg
                                                << "\nmissing: " << e;
  }
}

TEST(ModelSpec, AveragePoolsShapesAndText) {
  const ModelSpec m = parse_model("conv(1,6,k=5,pad=2) tanh avgpool(2) avgpool(3, stride=1) gap flatten dense(6,10)",
                                  Shape{1, 28, 28});
  EXPECT_EQ(m.text(), "conv(1,6,k=5,pad=2) tanh avgpool(2) avgpool(3,stride=1) gap flatten dense(6,10)");
  EXPECT_EQ(m.info[2].out.str(), "6x14x14");
  EXPECT_EQ(m.info[2].flops, 6 * 14 * 14 * 4);
  EXPECT_EQ(m.info[3].out.str(), "6x12x12");  // overlapping windows: (14 - 3) / 1 + 1
  EXPECT_EQ(m.info[3].flops, 6 * 12 * 12 * 9);
  EXPECT_EQ(m.info[4].out.str(), "6x1x1");
  EXPECT_EQ(m.info[4].flops, 6 * 12 * 12);
  // avgpool(K,stride=K) is written as avgpool(K).
  EXPECT_EQ(parse_model("avgpool(2,stride=2) flatten dense(16,10)").text(), "avgpool(2) flatten dense(16,10)");
}

TEST(ModelSpec, StridedConvolutionShapesTextAndFlops) {
  // (H + 2P - K) / S + 1, rounded down as PyTorch does: 28x28, k=3, pad=1, stride 2 -> 14x14;
  // 14x14, k=3, stride 2 -> 6x6 (the last row and column in no window); k=5, stride=2, pad=2 on
  // 6x6 -> 3x3, written with the padding before the stride.
  const ModelSpec m = parse_model(
      "conv(1,4,k=3,stride=2,pad=1) relu conv(4,8, k=3 , stride = 2) conv(8,6,k=5,pad=2,stride=2) "
      "conv(6,6,k=1,stride=1) flatten dense(54,10)",
      Shape{1, 28, 28});
  EXPECT_EQ(m.text(),
            "conv(1,4,k=3,stride=2,pad=1) relu conv(4,8,k=3,stride=2) conv(8,6,k=5,stride=2,pad=2) "
            "conv(6,6,k=1) flatten dense(54,10)");
  EXPECT_EQ(m.info[0].out.str(), "4x14x14");
  EXPECT_EQ(m.info[2].out.str(), "8x6x6");
  EXPECT_EQ(m.info[3].out.str(), "6x3x3");
  EXPECT_EQ(m.info[4].out.str(), "6x3x3");
  // 2 FLOPs per multiply-add of each output computed: the stride divides the outputs, not the
  // work per output.
  EXPECT_EQ(m.info[0].flops, 2 * 14 * 14 * 4 * 1 * 9);
  EXPECT_EQ(m.info[2].flops, 2 * 6 * 6 * 8 * 4 * 9);
  EXPECT_EQ(m.info[3].flops, 2 * 3 * 3 * 6 * 8 * 25);
  EXPECT_EQ(m.info[0].params, 4 * 9 + 4);
  EXPECT_EQ(m.layers[2].conv_stride(), 2);
  EXPECT_EQ(m.layers[4].conv_stride(), 1);
  // The text round-trips, and a model without strides keeps its text byte for byte.
  EXPECT_EQ(parse_full_text(m.full_text()).text(), m.text());
  EXPECT_EQ(model_from_name("seed").text(), kSeedModelText);
  EXPECT_EQ(parse_model("conv(1,2,k=3,stride=1,pad=1) flatten dense(128,10)").text(),
            "conv(1,2,k=3,pad=1) flatten dense(128,10)");
  // A stride larger than the padded input still gives one window.
  EXPECT_EQ(parse_model("conv(1,2,k=3,stride=100) flatten dense(2,10)").info[0].out.str(), "2x1x1");
}

TEST(ModelSpec, ShapeTextErrors) {
  for (const char* bad : {"1x8", "1x8x8x2", "axbxc", "0x8x8", "1x8x", "", "1x-8x8"}) {
    try {
      parse_shape(bad, "--input");
      ADD_FAILURE() << "accepted shape " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--input"), std::string::npos) << e.what();
    }
  }
}

TEST(ModelSpec, TrainFlopsCountBothBackwardPasses) {
  const ModelSpec s = model_from_name("seed");
  // 3 x (conv, conv, dense, dense) + 2 x (relu, relu, maxpool, flatten, relu)
  EXPECT_EQ(s.train_flops(), 3 * (2304 + 9216 + 4096 + 640) + 2 * (128 + 256 + 256 + 0 + 32));
}

TEST(ModelSpec, HugeModelsAreRefusedNotOverflowed) {
  for (const char* text : {"conv(1,65536,k=1024,pad=1000) flatten dense(2,2)",
                           "flatten dense(64,16777216) dense(16777216,16777216)",
                           "conv(1,4096,k=1,pad=1024) conv(4096,4096,k=1) flatten dense(1,2)"}) {
    try {
      parse_model(text, Shape{1, 8, 8});
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
    }
  }
}
