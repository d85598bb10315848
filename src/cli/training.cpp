// Training with the tool's progress output (training.hpp).
#include "training.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "progress.hpp"

namespace scratchcnn::cli {

std::string metrics_csv(const std::vector<EpochMetrics>& h) {
  std::ostringstream o;
  o << "epoch,loss,train_accuracy,test_accuracy,seconds\n";
  for (const auto& m : h) {
    char b[256];
    // Epochs carried over from a checkpoint have no seconds (NaN): written as "nan".
    if (std::isnan(m.seconds))
      std::snprintf(b, sizeof b, "%d,%.9g,%.9g,%.9g,nan\n", m.epoch, m.loss, m.train_accuracy,
                    m.test_accuracy);
    else
      std::snprintf(b, sizeof b, "%d,%.9g,%.9g,%.9g,%.6f\n", m.epoch, m.loss, m.train_accuracy,
                    m.test_accuracy, m.seconds);
    o << b;
  }
  return o.str();
}

std::vector<EpochMetrics> run_training(Network& net, const Setup& s, bool table,
                                       const EpochCallback& after_epoch) {
  Progress progress(s.opt.epochs, s.split.train.size(), !s.quiet);
  table = table && !s.quiet;
  if (table) std::cout << "epoch       loss  train_acc   test_acc    seconds\n" << std::flush;
  return train(
      net, s.split.train, s.split.test, s.opt,
      [&](int e, int b, int bs, int done, double secs) { progress.step(e, b, bs, done, secs); },
      [&](const EpochMetrics& m) {
        progress.clear();
        if (table) {
          char line[256];
          std::snprintf(line, sizeof line, "%5d %10.6f %10.4f %10.4f %10.3f\n", m.epoch, m.loss,
                        m.train_accuracy, m.test_accuracy, m.seconds);
          std::cout << line << std::flush;
        }
        if (after_epoch) after_epoch(m);
      });
}

}  // namespace scratchcnn::cli
