// The origin experiment (seed-spec.md): the seed model, 10 epochs, batch 128, lr 0.1, on optdigits.
// The reference path must learn; the fast path must reproduce the reference's run at every
// instruction-set level: each epoch started from the reference's state (epoch-synced) to 1e-3,
// and free-running (differences carried over, including max-pool near-ties: docs/parity.md)
// within a loose band.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "scratchcnn/data/dataset.hpp"
#include "scratchcnn/fast/isa.hpp"
#include "scratchcnn/network.hpp"
#include "reference/network.hpp"
#include "scratchcnn/trainer.hpp"
#include "test_support.hpp"

using namespace scratchcnn;

namespace {

struct ExperimentRun {
  data::Split split;
  bool full_uci = false;
  double initial_loss = 0;
  std::vector<EpochMetrics> reference;
  std::vector<Parameters> reference_states;  // parameters at the start of each epoch, and at the end
  Parameters p0;
};

double mean_loss(Network& net, const data::Dataset& d) {
  const int classes = net.spec().classes();
  std::vector<float> logits(std::size_t(d.size()) * classes);
  net.predict(d.images, logits);
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
    const TrainOptions opt;  // 10 epochs, batch 128, lr 0.1, seed 1 (plain SGD: no velocity)
    out.p0 = p0;
    auto ref = make_network(PathKind::Reference, spec, p0);
    out.initial_loss = mean_loss(*ref, out.split.train);
    out.reference_states.push_back(p0);
    out.reference = train(*ref, out.split.train, out.split.test, opt, {},
                          [&](const EpochMetrics&) { out.reference_states.push_back(ref->parameters()); });
    return out;
  }();
  return r;
}

}  // namespace

TEST(OriginReference, ReferencePathLearns) {
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

class OriginExperiment : public test::IsaTest {
 protected:
  // The fast path's metrics: free-running, or each epoch from the reference's state (synced).
  std::vector<EpochMetrics> fast_run(const ExperimentRun& r, bool synced) {
    const ModelSpec spec = model_from_name("seed");
    TrainOptions opt;
    if (!synced) {
      auto fast = make_network(PathKind::Fast, spec, r.p0);
      return train(*fast, r.split.train, r.split.test, opt);
    }
    std::vector<EpochMetrics> out;
    for (int e = 1; e <= 10; ++e) {
      auto fast = make_network(PathKind::Fast, spec, r.reference_states[std::size_t(e - 1)]);
      opt.first_epoch = opt.epochs = e;
      out.push_back(train(*fast, r.split.train, r.split.test, opt).at(0));
    }
    return out;
  }
  static void print(const ExperimentRun& r, const std::vector<EpochMetrics>& f, const char* what) {
    std::cout << what << " (" << fast::active_isa() << ")\n"
              << "epoch  loss_reference  loss_fast  test_acc_reference  test_acc_fast\n";
    for (std::size_t i = 0; i < f.size(); ++i)
      std::cout << i + 1 << "  " << r.reference[i].loss << "  " << f[i].loss << "  "
                << r.reference[i].test_accuracy << "  " << f[i].test_accuracy << "\n";
  }
};
SCRATCHCNN_TEST_EVERY_ISA(OriginExperiment);

// Every epoch of the fast path, started from the reference's parameters at that epoch's start,
// gives the reference's epoch: mean loss within 1e-3 relative, test accuracy within 0.2 points.
TEST_P(OriginExperiment, EveryEpochFromTheReferenceStateReproducesIt) {
  const ExperimentRun& r = run();
  ASSERT_EQ(r.reference.size(), 10u) << "no data";
  const std::vector<EpochMetrics> f = fast_run(r, true);
  print(r, f, "epoch-synced");
  ASSERT_EQ(f.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_LE(std::abs(f[i].loss - r.reference[i].loss), 1e-3 * std::abs(r.reference[i].loss))
        << "epoch " << i + 1 << ": reference " << r.reference[i].loss << ", fast " << f[i].loss;
    EXPECT_LE(std::abs(f[i].test_accuracy - r.reference[i].test_accuracy), 0.002 + 1e-12)
        << "epoch " << i + 1 << ": reference " << r.reference[i].test_accuracy << ", fast "
        << f[i].test_accuracy;
  }
}

// Free-running, a near-tie in a max-pool window may send one sample's gradient elsewhere and the
// runs apart (docs/parity.md), so the band is loose: it catches a path that learns differently,
// not rounding.
TEST_P(OriginExperiment, FreeRunningFastPathStaysWithTheReference) {
  const ExperimentRun& r = run();
  ASSERT_EQ(r.reference.size(), 10u) << "no data";
  const std::vector<EpochMetrics> f = fast_run(r, false);
  print(r, f, "free-running");
  ASSERT_EQ(f.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_LE(std::abs(f[i].loss - r.reference[i].loss), 0.05 * std::abs(r.reference[i].loss))
        << "epoch " << i + 1 << ": reference " << r.reference[i].loss << ", fast " << f[i].loss;
  EXPECT_LE(std::abs(f.back().test_accuracy - r.reference.back().test_accuracy), 0.01 + 1e-12)
      << "final test accuracy: reference " << r.reference.back().test_accuracy << ", fast "
      << f.back().test_accuracy;
}
