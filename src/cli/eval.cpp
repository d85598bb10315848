// scratchcnn eval: a checkpoint's accuracy, per-class precision and recall and confusion matrix
// on a data set (report.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "json.hpp"
#include "report.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace scratchcnn::cli {

const char* const kEvalUsage = R"TXT(usage: scratchcnn eval --checkpoint FILE [flags]

Evaluates the parameters of a checkpoint or parameter file (the model is read from the file) on
the test part of a data folder: accuracy, per-class precision and recall, and the confusion
matrix (rows: true class, columns: predicted class); above 20 classes, instead of the matrix, the
most frequent confusions (--csv and --json keep the whole matrix). Classes are named by the
data's class names where it has them (image folders, CIFAR name files). For a checkpoint that
records it, the header also gives the instruction-set level it was trained at and the one this
evaluation runs at, and a line gives the convolution algorithm when it is not auto.

  --checkpoint FILE  a checkpoint or parameter file written by train --save (required; - reads
                     standard input)
  --data DIR         data folder, as for train (default: data, or /usr/share/datasets/fashion-mnist
                     for lenet5, lenet5-1998 and fashion-cnn)
  --split S          test (default) or train
  --seed N           seed of the 80/20 split of a digits.csv or image folder (default: the
                     checkpoint's seed, else 1)
  --channels N       1 or 3, --resize HxW: shape the images as train does (default: what the
  --resize HxW       checkpoint records, as the run was trained; a different value is an error)
  --batch N          evaluation batch size (default 256)
%s  --json FILE        write accuracy, precision, recall, support, the matrix and the class names
                     (when the data has them) as JSON
  --csv FILE         write the confusion matrix as CSV: header true,0,1,...; one row per true class
  --quiet            print nothing on stdout and no notes; --json and --csv are written as
                     without it
Outputs replace their file atomically (through a symlink, keeping its permissions); /dev/null,
/dev/stdout and FIFOs are written in place. --json and --csv must not name the same file, the
--checkpoint file or a data file (an error before any work).
Plot the matrix with scripts/plot_confusion.py.
)TXT";

namespace {

// The flags of eval, read and checked before any file is.
struct EvalFlags {
  std::string split, json, csv;
  PathKind path = PathKind::Fast;
  int batch = 256;
  int threads = 1;
  std::uint64_t max_memory = 0;
};

EvalFlags read_eval_flags(const Args& a) {
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("--checkpoint")) throw UsageError("--checkpoint FILE is required");
  EvalFlags f;
  f.split = a.str("--split", "test");
  if (f.split != "test" && f.split != "train")
    throw UsageError("--split: '" + f.split + "' is not test or train");
  f.path = read_path(a);
  (void)read_conv_algo(a);  // a bad value is a usage error before any file is read
  (void)read_load_options(a);
  f.batch = read_batch(a, 256);
  f.threads = read_threads(a);
  f.max_memory = read_max_memory(a);
  f.json = a.has("--json") ? a.str("--json", "") : "";
  f.csv = a.has("--csv") ? a.str("--csv", "") : "";
  if (!f.json.empty()) check_output_path("--json", f.json);
  if (!f.csv.empty()) check_output_path("--csv", f.csv);
  return f;
}

// Loads the model file and the data, predicts every sample of the split and counts.
EvalReport run_eval(const Args& a, const EvalFlags& f) {
  const std::string file = a.str("--checkpoint", "");
  const LoadedModel l = load_model(file);
  const std::uint64_t seed = a.seed("--seed", l.state ? l.state->options.seed : 1);
  const std::string name = builtin_name(l.spec);
  const std::string data_dir = a.str("--data", defaults_for(name).data);
  auto inputs = data_inputs(data_dir);
  inputs.push_back({"--checkpoint", file});
  check_aliases({{"--json", f.json}, {"--csv", f.csv}}, inputs);
  const data::LoadOptions recorded = l.state ? l.state->load : data::LoadOptions{};
  const data::Split split = data::load_data_dir(data_dir, seed, load_options_for(a, recorded, file));
  const data::Dataset& d = f.split == "test" ? split.test : split.train;
  check_fits(l.spec, d, "eval needs the --channels and --resize the model was trained with");
  // The data's class names against the ones the model was trained with.
  if (l.state && !l.state->class_names.empty() && !d.class_names.empty() &&
      d.class_names != l.state->class_names)
    throw Error(data_dir + " names its classes otherwise than the data " + file +
                " was trained on (class " + std::to_string(std::mismatch(d.class_names.begin(), d.class_names.end(),
                                                                  l.state->class_names.begin()).first -
                                                    d.class_names.begin()) +
                " differs)");
  const NetworkOptions options{read_conv_algo(a, l.network_options().conv)};
  check_command_memory(a, f.max_memory, l.spec, {f.path}, std::min(f.batch, d.size()), f.threads,
                       MemoryUse::Inference,
                       dataset_bytes(split.train) + dataset_bytes(split.test) +
                           parameters_bytes(l.spec),
                       "evaluating", options);
  auto net = make_network(f.path, l.spec, l.params, options);
  EvalReport r;
  r.model = (name.empty() ? "" : name + ": ") + l.spec.full_text();
  r.model_text = l.spec.full_text();
  r.trained_isa = l.state ? l.state->isa : std::string();
  r.isa = f.path == PathKind::Reference ? std::string("reference") : fast::active_isa();
  r.conv = f.path == PathKind::Reference ? ConvAlgo::Auto : options.conv;
  r.source = d.source;
  r.split = f.split;
  r.note = split.note;
  r.class_names = !d.class_names.empty() || !l.state ? d.class_names : l.state->class_names;
  count_predictions(r, l.spec.classes(), d.labels, predict_classes(*net, d.images, f.batch));
  return r;
}

}  // namespace

void count_predictions(EvalReport& r, int classes, const std::vector<int>& labels,
                       const std::vector<int>& predicted) {
  const auto k = static_cast<std::size_t>(classes);
  r.confusion.assign(k, std::vector<long>(k, 0));
  r.support.assign(k, 0);
  r.precision.assign(k, 0);
  r.recall.assign(k, 0);
  r.samples = static_cast<int>(labels.size());
  r.correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    ++r.confusion[std::size_t(labels[i])][std::size_t(predicted[i])];
    r.correct += labels[i] == predicted[i];
  }
  r.accuracy = double(r.correct) / r.samples;
  std::vector<long> predicted_as(k, 0);
  for (std::size_t t = 0; t < k; ++t)
    for (std::size_t p = 0; p < k; ++p) {
      r.support[t] += r.confusion[t][p];
      predicted_as[p] += r.confusion[t][p];
    }
  for (std::size_t c = 0; c < k; ++c) {
    const double tp = double(r.confusion[c][c]);
    r.precision[c] = predicted_as[c] ? tp / predicted_as[c] : NAN;
    r.recall[c] = r.support[c] ? tp / r.support[c] : NAN;
  }
}

namespace {

// The confusion matrix as a table: a header of predicted classes, one row per true class.
std::string confusion_table(const std::vector<std::vector<long>>& cm) {
  std::ostringstream o;
  o << "\nconfusion matrix (rows: true class, columns: predicted class)\n" << "true\\pred";
  int width = 5;
  for (const auto& row : cm)
    for (long v : row) width = std::max(width, int(std::to_string(v).size()) + 1);
  const auto cell = [&](const std::string& v) {
    return std::string(std::size_t(width) - v.size(), ' ') + v;
  };
  for (std::size_t p = 0; p < cm.size(); ++p) o << cell(std::to_string(p));
  o << "\n";
  for (std::size_t t = 0; t < cm.size(); ++t) {
    const std::string label = std::to_string(t);
    o << std::string(9 - label.size(), ' ') << label;
    for (long v : cm[t]) o << cell(std::to_string(v));
    o << "\n";
  }
  return o.str();
}

// The most frequent confusions (true class, predicted class, count), largest first, at most `most`.
std::string top_confusions(const EvalReport& r, std::size_t most) {
  struct Pair {
    std::size_t t, p;
    long n;
  };
  std::vector<Pair> pairs;
  for (std::size_t t = 0; t < r.confusion.size(); ++t)
    for (std::size_t p = 0; p < r.confusion[t].size(); ++p)
      if (t != p && r.confusion[t][p] > 0) pairs.push_back({t, p, r.confusion[t][p]});
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const Pair& x, const Pair& y) { return x.n > y.n; });
  std::ostringstream o;
  o << "\nmost frequent confusions (" << std::min(most, pairs.size()) << " of " << pairs.size()
    << " pairs; --csv and --json hold the whole " << r.confusion.size() << "x"
    << r.confusion.size() << " matrix)\n";
  if (pairs.empty()) return o.str();
  std::size_t width = 4;
  for (std::size_t i = 0; i < std::min(most, pairs.size()); ++i)
    width = std::max(width, class_label(r, pairs[i].t).size());
  o << "true" << std::string(width - 4, ' ') << "  predicted as" << "\n";
  for (std::size_t i = 0; i < std::min(most, pairs.size()); ++i) {
    const Pair& q = pairs[i];
    const std::string t = class_label(r, q.t);
    const double share = r.support[q.t] ? double(q.n) / double(r.support[q.t]) : 0;
    o << t << std::string(width - t.size(), ' ') << "  " << class_label(r, q.p) << ": " << q.n
      << " (" << fixed(share * 100, 1) << "% of " << r.support[q.t] << ")\n";
  }
  return o.str();
}

}  // namespace

std::string class_label(const EvalReport& r, std::size_t c) {
  std::string name = c < r.class_names.size() ? r.class_names[c] : std::string();
  if (name.empty()) return std::to_string(c);
  // A folder name may hold any byte but '/': control characters would garble the table.
  for (char& ch : name)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  // Long names are cut so that tables stay readable.
  if (name.size() > kMaxNameWidth) name = name.substr(0, kMaxNameWidth - 3) + "...";
  // The numbers right-aligned to the widest one, so the names start in one column.
  const std::string number = std::to_string(c);
  const std::size_t digits = std::to_string(r.class_names.size() - 1).size();
  return std::string(digits > number.size() ? digits - number.size() : 0, ' ') + number + " " + name;
}

std::string eval_text(const EvalReport& r) {
  auto ratio = [](double v) { return std::isnan(v) ? std::string("     -") : fixed(v, 4); };
  std::ostringstream o;
  o << "model     " << r.model << "\n";
  if (!r.trained_isa.empty()) {
    // The recorded bit class (an older build's level reads as its class), and this run's.
    const std::string trained = fast::bit_class(r.trained_isa), now = fast::bit_class(r.isa);
    o << "bits      trained in " << trained
      << (trained == r.trained_isa ? "" : " (recorded as level " + r.trained_isa + ")")
      << ", evaluated in " << now << (now == r.isa ? "" : " (level " + r.isa + ")") << "\n";
  }
  if (r.conv != ConvAlgo::Auto) o << "conv      " << conv_algo_name(r.conv) << "\n";
  o << "data      " << r.source << " (" << r.split << "): " << r.samples << " samples\n";
  if (!r.note.empty()) o << "note      " << r.note << "\n";
  o << "accuracy  " << fixed(r.accuracy, 4) << " (" << r.correct << " of " << r.samples << ")\n\n"
    ;
  std::size_t width = 5;
  for (std::size_t c = 0; c < r.support.size(); ++c) width = std::max(width, class_label(r, c).size());
  o << (r.class_names.empty() ? std::string(width - 5, ' ') + "class"
                              : "class" + std::string(width - 5, ' '))
    << "  precision  recall  support\n";
  for (std::size_t c = 0; c < r.support.size(); ++c) {
    const std::string label = class_label(r, c);
    char line[128];
    std::snprintf(line, sizeof line, "  %9s  %6s  %7ld\n", ratio(r.precision[c]).c_str(),
                  ratio(r.recall[c]).c_str(), r.support[c]);
    // Names left-aligned, bare numbers right-aligned as before.
    o << (r.class_names.empty() ? std::string(width - label.size(), ' ') + label
                                : label + std::string(width - label.size(), ' '))
      << line;
  }
  if (r.confusion.size() > kMaxMatrixClasses) return o.str() + top_confusions(r, kTopConfusions);
  return o.str() + confusion_table(r.confusion);
}

std::string eval_json(const EvalReport& r) {
  const auto ratio = [](double v) { return json::number(v, 9); };
  std::vector<std::string> rows;
  for (const auto& row : r.confusion) rows.push_back(json::array(row, json::integer));
  json::Object o;
  o.add("model", json::quote(r.model_text))
      .add("split", json::quote(r.split))
      .add("samples", json::integer(r.samples))
      .add("classes", json::integer(static_cast<long long>(r.support.size())))
      .add("accuracy", json::number(r.accuracy, 9))
      .add("precision", json::array(r.precision, ratio))
      .add("recall", json::array(r.recall, ratio))
      .add("support", json::array(r.support, json::integer))
      .add("confusion", json::rows(rows));
  // Only where the data names its classes: the JSON of numbered classes stays as it was.
  if (!r.class_names.empty())
    o.add("class_names",
          json::array(r.class_names, [](const std::string& n) { return json::quote(n); }));
  return o.str();
}

std::string eval_csv(const EvalReport& r) {
  std::ostringstream o;
  o << "true";
  for (std::size_t p = 0; p < r.confusion.size(); ++p) o << "," << p;
  o << "\n";
  for (std::size_t t = 0; t < r.confusion.size(); ++t) {
    o << t;
    for (long v : r.confusion[t]) o << "," << v;
    o << "\n";
  }
  return o.str();
}

int cmd_eval(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--checkpoint", "--data", "--split", "--seed", "--batch", "--path", "--threads",
                "--json", "--csv", "--max-memory", "--conv-algo", "--channels", "--resize"},
               {"--help", "--quiet"});
  if (a.has("--help")) {
    std::cout << usage_with(kEvalUsage, kModelFileFlags);
    return 0;
  }
  const EvalFlags f = read_eval_flags(a);
  const EvalReport r = run_eval(a, f);
  const bool quiet = a.has("--quiet");
  if (!quiet) std::cout << eval_text(r);
  for (const auto& [path, text] : {std::pair{f.json, eval_json(r)}, std::pair{f.csv, eval_csv(r)}}) {
    if (path.empty()) continue;
    std::cout << std::flush;  // what was printed comes first when the output is /dev/stdout
    write_file_atomic(path, text);
    if (!quiet) std::cout << "wrote " << path << "\n";
  }
  return 0;
}

}  // namespace scratchcnn::cli
