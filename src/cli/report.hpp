#pragma once
// What compare, eval and predict compute, apart from how they print it (compare.cpp, eval.cpp,
// predict.cpp): each command fills a report, then writes it as a text table and, on request, as
// JSON or CSV.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "commands.hpp"

namespace scratchcnn::cli {

// compare: the reference path, the free-running fast path and the epoch-synced fast path (each
// epoch from the reference's state at its start), epoch by epoch.
struct CompareReport {
  std::vector<EpochMetrics> reference, fast, synced;
  double max_loss_rel_diff = 0;              // epoch-synced
  double max_test_accuracy_diff = 0;         // epoch-synced
  double max_loss_rel_diff_free = 0;         // free-running
  double final_test_accuracy_diff_free = 0;  // free-running, last epoch
  double max_param_abs_diff_free = 0;        // free-running, at the end
  double seconds_reference = 0, seconds_fast = 0;
  double speedup = 0;  // seconds_reference / seconds_fast (0 when the fast path took no time)
  std::string isa;     // the fast path's instruction-set level
  std::string bits;    // its bit class (fast::bit_class): "x86-fma", "sse4.2", ...
  ConvAlgo conv = ConvAlgo::Auto;
  std::vector<std::string> broken;  // the parity rules broken (docs/parity.md); empty: parity OK
};
// Trains the three runs of `s` (announcing each on stdout) and compares them.
CompareReport compare_paths(const Setup& s);
std::string compare_text(const CompareReport& r);  // the per-epoch table and the summary
std::string compare_json(const CompareReport& r);

// eval: accuracy, per-class precision and recall, and the confusion matrix of a data set.
struct EvalReport {
  std::string model;        // "seed: <full text>" for a built-in model, else the full text
  std::string model_text;   // the full text
  std::string trained_isa;  // the checkpoint's bit class, or the level an older build recorded
                            // (empty: not recorded)
  std::string isa;          // the level this evaluation ran at ("reference" for that path)
  ConvAlgo conv = ConvAlgo::Auto;
  std::string source, split, note;
  int samples = 0;
  long correct = 0;
  double accuracy = 0;
  // Per class. Precision of a class nobody predicted, recall of a class absent from the data:
  // NaN ("-" in the table, null in JSON).
  std::vector<double> precision, recall;
  std::vector<long> support;
  std::vector<std::vector<long>> confusion;  // [true class][predicted class]
  std::vector<std::string> class_names;      // the data's (empty: classes are numbers)
};
// Up to this many classes the text shows the confusion matrix; above, the kTopConfusions most
// frequent confusions instead (the CSV and JSON always hold the matrix).
inline constexpr std::size_t kMaxMatrixClasses = 20;
inline constexpr std::size_t kTopConfusions = 20;
// The longest class name the tables show (longer ones are cut, ending in "...").
inline constexpr std::size_t kMaxNameWidth = 32;
// Class c as the text tables show it: "c" or "c name".
std::string class_label(const EvalReport& r, std::size_t c);
// Fills the counts, accuracy, precision and recall of `labels` against `predicted` (same size).
void count_predictions(EvalReport& r, int classes, const std::vector<int>& labels,
                       const std::vector<int>& predicted);
std::string eval_text(const EvalReport& r);
std::string eval_json(const EvalReport& r);
std::string eval_csv(const EvalReport& r);  // the confusion matrix

// predict: the class of every sample, with the logits when probabilities are asked for.
struct PredictReport {
  int classes = 0;
  std::vector<int> predicted;
  std::vector<float> logits;  // samples x classes; empty without --probs
  bool labelled = false;      // the labels are known: correct counts against them
  long correct = 0;
  // PNG input: each line starts with its file; the class is printed as its name when the
  // checkpoint records class names.
  std::vector<std::string> files;
  std::vector<std::string> class_names;
};
// One line per sample: the class (for PNG input "FILE CLASS", CLASS the class name when known,
// else its number), then with logits the softmax probability of every class (" %.6f" each,
// computed in double after subtracting the largest logit), in chunks to `out`.
void write_predictions(const PredictReport& r, std::ostream& out);

}  // namespace scratchcnn::cli
