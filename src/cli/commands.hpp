#pragma once
// The commands of the tool, their usage texts, and the headers of what they share (one per
// concern).
#include <string>
#include <vector>

#include "args.hpp"
#include "budget.hpp"
#include "format.hpp"
#include "outputs.hpp"
#include "progress.hpp"
#include "scratchcnn/checkpoint.hpp"
#include "setup.hpp"
#include "training.hpp"

namespace scratchcnn::cli {

// Usage texts; those with a %s take kTrainFlags through with_flags().
extern const char* const kTrainUsage;
extern const char* const kCompareUsage;
extern const char* const kEvalUsage;
extern const char* const kPredictUsage;
extern const char* const kExportUsage;

// The commands: argv without the command name; the exit code (Error and UsageError propagate).
int cmd_train(const std::vector<std::string>& argv);
int cmd_compare(const std::vector<std::string>& argv);
int cmd_eval(const std::vector<std::string>& argv);
int cmd_predict(const std::vector<std::string>& argv);
int cmd_export(const std::vector<std::string>& argv);

}  // namespace scratchcnn::cli
