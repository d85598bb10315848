#pragma once
// Training with the tool's progress output, and the per-epoch CSV.
#include <string>
#include <vector>

#include "scratchcnn/network.hpp"
#include "scratchcnn/trainer.hpp"
#include "setup.hpp"

namespace scratchcnn::cli {

// epoch,loss,train_accuracy,test_accuracy,seconds (with val_loss,val_accuracy before seconds when
// the epochs have validation metrics); one row per epoch ("nan" seconds for the epochs of a
// checkpoint).
std::string metrics_csv(const std::vector<EpochMetrics>& h);
// train() with the progress bar, and with `table` one line per epoch on stdout (neither with
// --quiet); validating on s.val (when not empty) with early stopping as s.opt says.
std::vector<EpochMetrics> run_training(Network& net, const Setup& s, bool table,
                                       const EpochCallback& after_epoch = {});

}  // namespace scratchcnn::cli
