// Training with the tool's progress output (training.hpp).
#include "training.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "progress.hpp"

namespace scratchcnn::cli {

std::string metrics_csv(const std::vector<EpochMetrics>& h) {
  // The validation columns only for a run with a validation set, so other runs keep their bytes.
  const bool val = !h.empty() && !std::isnan(h.front().val_loss);
  std::ostringstream o;
  o << "epoch,loss,train_accuracy,test_accuracy," << (val ? "val_loss,val_accuracy," : "")
    << "seconds\n";
  for (const auto& m : h) {
    char b[320];
    int at = std::snprintf(b, sizeof b, "%d,%.9g,%.9g,%.9g,", m.epoch, m.loss, m.train_accuracy,
                           m.test_accuracy);
    if (val) at += std::snprintf(b + at, sizeof b - std::size_t(at), "%.9g,%.9g,", m.val_loss, m.val_accuracy);
    // Epochs carried over from a checkpoint have no seconds (NaN): written as "nan".
    if (std::isnan(m.seconds))
      std::snprintf(b + at, sizeof b - std::size_t(at), "nan\n");
    else
      std::snprintf(b + at, sizeof b - std::size_t(at), "%.6f\n", m.seconds);
    o << b;
  }
  return o.str();
}

std::vector<EpochMetrics> run_training(Network& net, const Setup& s, bool table,
                                       const EpochCallback& after_epoch) {
  Progress progress(s.opt.epochs, s.split.train.size(), !s.quiet);
  table = table && !s.quiet;
  const bool val = s.val.size() > 0;
  if (table)
    std::cout << "epoch       loss  train_acc   test_acc" << (val ? "   val_loss    val_acc" : "")
              << "    seconds\n"
              << std::flush;
  Validation validation;
  if (val) {
    validation.set = &s.val;
    validation.prior = s.resumed.history;
  }
  return train(
      net, s.split.train, s.split.test, s.opt,
      [&](int e, int b, int bs, int done, double secs) { progress.step(e, b, bs, done, secs); },
      [&](const EpochMetrics& m) {
        progress.clear();
        if (table) {
          char line[256];
          int at = std::snprintf(line, sizeof line, "%5d %10.6f %10.4f %10.4f", m.epoch, m.loss,
                                 m.train_accuracy, m.test_accuracy);
          if (val)
            at += std::snprintf(line + at, sizeof line - std::size_t(at), " %10.6f %10.4f",
                                m.val_loss, m.val_accuracy);
          std::snprintf(line + at, sizeof line - std::size_t(at), " %10.3f\n", m.seconds);
          std::cout << line << std::flush;
        }
        if (after_epoch) after_epoch(m);
      },
      validation);
}

}  // namespace scratchcnn::cli
