// Both paths behind the Network interface refuse a bad batch before anything changes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "scratchcnn/error.hpp"
#include "scratchcnn/network.hpp"
#include "test_support.hpp"

using namespace scratchcnn;

TEST(NetworkErrors, NonFiniteInputsAndBadLabelsAreRefusedByBothPaths) {
  // The seed model has a ReLU right after the first convolution: without the input check a NaN
  // pixel would come out of it as 0 while the weight gradients turn NaN.
  const ModelSpec spec = model_from_name("seed");
  const Parameters p = Parameters::he_uniform(spec, 3);
  for (PathKind path : {PathKind::Reference, PathKind::Fast}) {
    auto net = make_network(path, spec, p);
    std::vector<float> x(20 * 64, 0.5f);
    std::vector<int> labels(20, 1);
    struct Case {
      float value;
      const char* message;
    };
    for (const Case c : {Case{std::numeric_limits<float>::quiet_NaN(), "(NaN) at index 7"},
                         Case{std::numeric_limits<float>::infinity(), "(infinite) at index 7"},
                         Case{-std::numeric_limits<float>::infinity(), "(infinite) at index 7"}}) {
      x[17 * 64 + 7] = c.value;
      for (bool step : {true, false}) {
        try {
          if (step)
            net->train_step(Batch{x.data(), labels.data(), 20}, 0.1f);
          else
            net->gradients(Batch{x.data(), labels.data(), 20});
          ADD_FAILURE() << path_name(path) << ": accepted " << c.value;
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find(std::string("sample 17 has a non-finite input value ") +
                                               c.message),
                    std::string::npos)
              << path_name(path) << ": " << e.what();
        }
      }
      EXPECT_EQ(net->parameters(), p) << path_name(path);
    }
    x[17 * 64 + 7] = 0.5f;
    labels[4] = 10;
    try {
      net->train_step(Batch{x.data(), labels.data(), 20}, 0.1f);
      ADD_FAILURE() << path_name(path) << ": accepted label 10";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("label 10 of sample 4 in the batch is outside 0..9"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(net->parameters(), p) << path_name(path);
    labels[4] = 1;
    net->train_step(Batch{x.data(), labels.data(), 20}, 0.1f);
    EXPECT_NE(net->parameters(), p) << path_name(path) << ": a good step after the refused ones";
  }
}

TEST(Excerpt, QuotesEscapesAndCuts) {
  EXPECT_EQ(scratchcnn::excerpt("conv(1,2,k=3)"), "'conv(1,2,k=3)'");
  EXPECT_EQ(scratchcnn::excerpt(std::string("a\xff\n\\b", 5)), "'a\\xff\\x0a\\x5cb'");
  const std::string big(50 << 20, '7');
  const std::string e = scratchcnn::excerpt(big, 4);
  EXPECT_EQ(e, "'7777...' (52428800 bytes)");
}

TEST(Excerpt, TerminalSafeEscapesControlBytesAndBadUtf8AndCuts) {
  using scratchcnn::terminal_safe;
  EXPECT_EQ(terminal_safe("data/caf\xc3\xa9.csv: no such file"), "data/caf\xc3\xa9.csv: no such file");
  EXPECT_EQ(terminal_safe("\x1b[2Jx\n\a"), "\\x1b[2Jx\\x0a\\x07");
  EXPECT_EQ(terminal_safe("a\xff\xc3"), "a\\xff\\xc3");        // invalid and truncated sequences
  EXPECT_EQ(terminal_safe("\xc0\xaf"), "\\xc0\\xaf");          // an overlong '/'
  EXPECT_EQ(terminal_safe("a\xc2\x9b" "2Jb"), "a\\xc2\\x9b2Jb");  // C1 CSI
  EXPECT_EQ(terminal_safe("x\xe2\x80\xaey"), "x\\xe2\\x80\\xaey");  // right-to-left override
  EXPECT_EQ(terminal_safe(std::string(100000, 'x'), 10), "xxxxxxxxxx... (100000 bytes)");
}

TEST(Excerpt, TheToolPrintsErrorsTerminalSafe) {
  // A file name with escape sequences (ESC [2J clears the screen) and a 100,000-byte value.
  auto r = scratchcnn::test::cli("eval --checkpoint \"$(printf 'x\\033[2J\\007y')\"");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(scratchcnn::test::has(r.err, "x\\x1b[2J\\x07y")) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
  r = scratchcnn::test::cli("train --metrics " + std::string(100000, 'm') + "/x --epochs 1");
  EXPECT_EQ(r.code, 1) << r.err.substr(0, 300);
  EXPECT_LT(r.err.size(), 2200u);
  r = scratchcnn::test::run_command(std::string("SCRATCHCNN_ISA=\"$(printf '\\033[31mzz')\" '") +
                                    SCRATCHCNN_CLI_PATH + "' info");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}
