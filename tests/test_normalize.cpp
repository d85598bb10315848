// The normalize layer ("normalize(mean=M,std=S)", per channel "mean=M1:M2,std=S1:S2"): the model
// text, shape inference's errors, and both paths against the rule (x - mean[c]) / std[c], exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "fast/layer.hpp"
#include "reference/network.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/trainer.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/rng.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

TEST(NormalizeText, ParsesPrintsAndRefusesWhatItCannotUse) {
  const ModelSpec s = parse_model("normalize(mean=0.1:0.2:0.3, std=0.5:0.25:2) flatten dense(48,10)",
                                  Shape{3, 4, 4});
  EXPECT_EQ(s.layers[0].kind, LayerKind::Normalize);
  EXPECT_EQ(s.layers[0].mean, (std::vector<float>{0.1f, 0.2f, 0.3f}));
  EXPECT_EQ(s.layers[0].stdev, (std::vector<float>{0.5f, 0.25f, 2.0f}));
  EXPECT_EQ(s.text(), "normalize(mean=0.1:0.2:0.3,std=0.5:0.25:2) flatten dense(48,10)");
  EXPECT_EQ(parse_full_text(s.full_text()).full_text(), s.full_text());
  EXPECT_EQ(s.info[0].out, s.input);
  EXPECT_EQ(s.info[0].flops, 2 * 48);
  EXPECT_EQ(s.param_count(), 490);
  // One value for every channel.
  EXPECT_EQ(parse_model("normalize(mean=0.5,std=0.25) flatten dense(48,10)", Shape{3, 4, 4}).text(),
            "normalize(mean=0.5,std=0.25) flatten dense(48,10)");
  const auto error = [](const std::string& text) {
    return error_of([&] { (void)parse_model(text, Shape{3, 4, 4}); });
  };
  EXPECT_TRUE(has(error("normalize(mean=0.1:0.2,std=1) flatten dense(48,10)"),
                  "layer 1 'normalize(mean=0.1:0.2,std=1)': 2 mean values for an input of 3 channels"));
  EXPECT_TRUE(has(error("normalize(mean=0,std=0) flatten dense(48,10)"), "must be above 0"));
  EXPECT_TRUE(has(error("normalize(mean=0,std=-1) flatten dense(48,10)"), "must be above 0"));
  EXPECT_TRUE(has(error("normalize(mean=x,std=1) flatten dense(48,10)"), "is not a finite number"));
  EXPECT_TRUE(has(error("normalize(mean=1e39,std=1) flatten dense(48,10)"), "is not a finite number"));
  EXPECT_TRUE(has(error("normalize(std=1,mean=0) flatten dense(48,10)"), "expects the form"));
  EXPECT_TRUE(has(error("normalize(mean=0) flatten dense(48,10)"), "expects the form"));
  EXPECT_TRUE(has(error("normalize(mean=,std=1) flatten dense(48,10)"), "layer 1"));
  EXPECT_TRUE(has(error("normalize(mean=0.5:,std=1) flatten dense(48,10)"), "empty mean value"));
}

// Both paths compute (x - mean[c]) / std[c] and, backward, g / std[c]: two IEEE operations each,
// the same bits as written here.
TEST(NormalizeLayer, BothPathsFollowTheRuleExactly) {
  const ModelSpec spec =
      parse_model("normalize(mean=0.1:0.7,std=0.3:1.7) flatten dense(18,4)", Shape{2, 3, 3});
  const LayerSpec& l = spec.layers[0];
  const LayerInfo& info = spec.info[0];
  Rng rng(3);
  const int n = 21;
  const std::vector<float> x = random_images(rng, n, info.in), g = random_images(rng, n, info.out);
  std::vector<float> want(x.size()), want_g(g.size());
  for (int s = 0; s < n; ++s)
    for (int i = 0; i < 18; ++i) {
      const std::size_t at = std::size_t(s) * 18 + std::size_t(i);
      const int c = i / 9;
      want[at] = (x[at] - l.mean[std::size_t(c)]) / l.stdev[std::size_t(c)];
      want_g[at] = g[at] / l.stdev[std::size_t(c)];
    }
  fast::Layer layer(l, info, LayerParams{});
  EXPECT_EQ(layer.forward(x.data(), n), want);
  EXPECT_EQ(layer.backward(g.data()), want_g);
  auto m = reference::make_module<float>(l, info, {});
  for (int s = 0; s < n; ++s) {
    reference::Tensor<float> t(info.in), gt(info.out);
    t.data.assign(x.begin() + s * 18, x.begin() + (s + 1) * 18);
    gt.data.assign(g.begin() + s * 18, g.begin() + (s + 1) * 18);
    EXPECT_EQ(m->forward(t).data, std::vector<float>(want.begin() + s * 18, want.begin() + (s + 1) * 18));
    EXPECT_EQ(m->backward(gt).data, std::vector<float>(want_g.begin() + s * 18, want_g.begin() + (s + 1) * 18));
  }
}

TEST(NormalizeData, ChannelStatsAreTheMeanAndPopulationStandardDeviation) {
  data::Dataset d;
  d.c = 2;
  d.h = 1;
  d.w = 2;
  d.images = {1, 3, 10, 10, 5, 7, 10, 30};  // channel 0: 1 3 5 7; channel 1: 10 10 10 30
  d.labels = {0, 1};
  const data::ChannelStats st = data::channel_stats(d);
  EXPECT_DOUBLE_EQ(st.mean[0], 4.0);
  EXPECT_DOUBLE_EQ(st.mean[1], 15.0);
  EXPECT_DOUBLE_EQ(st.stdev[0], std::sqrt(5.0));
  EXPECT_DOUBLE_EQ(st.stdev[1], std::sqrt(75.0));
  EXPECT_THROW((void)data::channel_stats(data::Dataset{}), Error);
}

// --normalize puts the layer first, from the training part's statistics; eval, predict and the
// export apply it because it is part of the model.
TEST(NormalizeRun, TheFlagPutsTheTrainingDataStatisticsIntoTheModel) {
  const std::string data = learnable_optdigits("normalize-data", 16, 64, 20);
  const std::string dir = temp_dir("normalize-run");
  const CliResult r = cli("train --data " + data + " --batch 16 --epochs 2 --normalize meanstd "
                          "--val-fraction 0.25 --save " + dir + "/n.ckpt");
  ASSERT_EQ(r.code, 0) << r.err;
  const Checkpoint c = load_checkpoint(dir + "/n.ckpt");
  ASSERT_EQ(c.spec.layers[0].kind, LayerKind::Normalize);
  // The statistics of the training part (the validation part held out first), rounded to float.
  const data::Split all = data::load_data_dir(data, 1);
  const data::Split parts = validation_split(all.train, 0.25, 1);
  const data::ChannelStats st = data::channel_stats(parts.train);
  EXPECT_EQ(c.spec.layers[0].mean, std::vector<float>{float(st.mean[0])});
  EXPECT_EQ(c.spec.layers[0].stdev, std::vector<float>{float(st.stdev[0])});
  EXPECT_TRUE(has(r.out, "model   seed: 1x8x8: normalize(mean=")) << r.out;
  // Evaluation reads the model with its layer: the run's last test accuracy again.
  const CliResult e = cli("eval --checkpoint " + dir + "/n.ckpt --data " + data);
  ASSERT_EQ(e.code, 0) << e.err;
  char acc[32];
  std::snprintf(acc, sizeof acc, "accuracy  %.4f", c.state.history.back().test_accuracy);
  EXPECT_TRUE(has(e.out, acc)) << e.out;
  // scale:X multiplies by X: the layer divides by the float nearest 1/X.
  ASSERT_EQ(cli("train --data " + data + " --epochs 1 --normalize scale:4 --save " + dir + "/s.ckpt").code, 0);
  EXPECT_EQ(load_checkpoint(dir + "/s.ckpt").spec.layers[0].text(), "normalize(mean=0,std=0.25)");
  // Refused: an unknown form, X not above 0, --normalize on a resume.
  for (const std::string bad : {"--normalize meanstd2", "--normalize scale:0", "--normalize scale:-1"}) {
    const CliResult b = cli("train --data " + data + " --epochs 1 " + bad);
    EXPECT_EQ(b.code, 2) << bad;
  }
  const CliResult again = cli("train --data " + data + " --resume " + dir + "/n.ckpt --epochs 3 --normalize meanstd");
  EXPECT_EQ(again.code, 2);
  EXPECT_TRUE(has(again.err, "--normalize is for a new run")) << again.err;
}
