// The origin experiment (seed-spec.md): the seed model, 10 epochs, batch 128, lr 0.1, on optdigits.
// The reference path must learn; the fast path must reproduce the reference's run.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/network.hpp"
#include "scratchcnn/reference/network.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

using namespace scratchcnn;

namespace {

struct ExperimentRun {
  data::Split split;
  bool full_uci = false;
  double initial_loss = 0;
  std::vector<EpochMetrics> reference, fast;
  Parameters reference_params, fast_params;
};

double mean_loss(Network& net, const data::Dataset& d) {
  const int classes = net.spec().classes();
  std::vector<float> logits(std::size_t(d.size()) * classes);
  net.predict(d.images.data(), d.size(), logits.data());
  double sum = 0;
  for (int s = 0; s < d.size(); ++s) {
    reference::Tensor<double> z(Shape{classes, 1, 1, true});
    for (int j = 0; j < classes; ++j) z.data[j] = logits[std::size_t(s) * classes + j];
    sum += reference::softmax_cross_entropy(z, d.labels[s], static_cast<reference::Tensor<double>*>(nullptr));
  }
  return sum / d.size();
}

// Both runs are made once and shared by the tests below.
const ExperimentRun& run() {
  static const ExperimentRun r = [] {
    ExperimentRun out;
    const std::string dir = test::optdigits_dir();
    if (dir.empty()) return out;
    out.split = data::load_data_dir(dir, 1);
    out.full_uci = out.split.note.empty();
    std::cout << "data: " << dir << (out.full_uci ? " (full UCI split)" : " (" + out.split.note + ")")
              << "\n";
    const ModelSpec spec = model_from_name("seed");
    const Parameters p0 = Parameters::he_uniform(spec, 1);
    const TrainOptions opt;  // 10 epochs, batch 128, lr 0.1, seed 1
    auto ref = make_network(PathKind::Reference, spec, p0);
    out.initial_loss = mean_loss(*ref, out.split.train);
    out.reference = train(*ref, out.split.train, out.split.test, opt);
    out.reference_params = ref->parameters();
    auto fast = make_network(PathKind::Fast, spec, p0);
    out.fast = train(*fast, out.split.train, out.split.test, opt);
    out.fast_params = fast->parameters();
    std::cout << "epoch  loss_reference  loss_fast  test_acc_reference  test_acc_fast\n";
    for (std::size_t i = 0; i < out.reference.size(); ++i)
      std::cout << i + 1 << "  " << out.reference[i].loss << "  " << out.fast[i].loss << "  "
                << out.reference[i].test_accuracy << "  " << out.fast[i].test_accuracy << "\n";
    return out;
  }();
  return r;
}

}  // namespace

TEST(OriginExperiment, ReferencePathLearns) {
  const ExperimentRun& r = run();
  ASSERT_EQ(r.reference.size(), 10u) << "no data";
  int falls = 0;
  double before = r.initial_loss;
  for (const auto& e : r.reference) {
    EXPECT_TRUE(std::isfinite(e.loss));
    if (e.loss < before) ++falls;
    before = e.loss;
  }
  EXPECT_GE(falls, 8) << "the loss fell in only " << falls << " of 10 epochs";
  // With the full UCI split (3,823 training rows) the bar is 0.85. With only the 1,797
  // rows a bare machine gets (1,438 for training, so 120 steps in 10 epochs instead of 300) the
  // model is measured at 0.76-0.86 across seeds; the bar there is 0.70.
  const double bar = r.full_uci ? 0.85 : 0.70;
  EXPECT_GE(r.reference.back().test_accuracy, bar)
      << (r.full_uci ? "full UCI split" : "1,797-row fallback split");
}

TEST(OriginExperiment, FastPathReproducesTheReferenceRun) {
  const ExperimentRun& r = run();
  ASSERT_EQ(r.reference.size(), 10u) << "no data";
  ASSERT_EQ(r.fast.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_LE(std::abs(r.fast[i].loss - r.reference[i].loss), 1e-3 * std::abs(r.reference[i].loss))
        << "epoch " << i + 1 << ": reference " << r.reference[i].loss << ", fast " << r.fast[i].loss;
  EXPECT_LE(std::abs(r.fast.back().test_accuracy - r.reference.back().test_accuracy), 0.002 + 1e-12)
      << "final test accuracy: reference " << r.reference.back().test_accuracy << ", fast "
      << r.fast.back().test_accuracy;
}
