// scratchcnn eval and scratchcnn predict.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/fast/isa.hpp"

namespace fs = std::filesystem;

namespace scratchcnn::cli {

const char* const kEvalUsage = R"TXT(usage: scratchcnn eval --checkpoint FILE [flags]

Evaluates the parameters of a checkpoint or parameter file (the model is read from the file) on
the test part of a data folder: accuracy, per-class precision and recall, and the confusion
matrix (rows: true class, columns: predicted class). For a checkpoint that records it, the header
also gives the instruction-set level it was trained at and the one this evaluation runs at.

  --checkpoint FILE  a checkpoint or parameter file written by train --save (required; - reads
                     standard input)
  --data DIR         data folder, as for train (default: data, or /usr/share/datasets/fashion-mnist
                     for lenet5)
  --split S          test (default) or train
  --seed N           seed of the 80/20 split of a digits.csv folder (default: the checkpoint's
                     seed, else 1)
  --batch N          evaluation batch size (default 256)
  --path P           fast (default) or reference
  --threads N        OpenMP threads for the fast path, 1..1024 (default: all cores, or
                     OMP_NUM_THREADS, capped at 1024)
  --max-memory S     refuse up front when the estimated memory (network, data) exceeds S, e.g.
                     512M or 8G; 0 = no limit (default: 3/4 of physical memory, or of a lower
                     cgroup or ulimit limit)
  --json FILE        write accuracy, precision, recall, support and the matrix as JSON
  --csv FILE         write the confusion matrix as CSV: header true,0,1,...; one row per true class
Outputs replace their file atomically (through a symlink, keeping its permissions); /dev/null,
/dev/stdout and FIFOs are written in place. --json and --csv must not name the same file, the
--checkpoint file or a data file (an error before any work).
Plot the matrix with scripts/plot_confusion.py.
)TXT";

const char* const kPredictUsage = R"TXT(usage: scratchcnn predict --checkpoint FILE [flags] INPUT

Prints one line per sample of INPUT: the predicted class, then with --probs the softmax
probability of every class. INPUT is an IDX images file (plain or gzip; MNIST format) or an
optdigits file (rows of 64 pixels and a label, plain or gzip), told apart by its first bytes; a
file, a FIFO, or - for standard input. When labels are known (an optdigits file, or --labels),
the accuracy goes to stderr. INPUT, --labels and --checkpoint accept - (one of them at most; a
name for standard input such as /dev/stdin counts as -).

  --checkpoint FILE  a checkpoint or parameter file written by train --save (required)
  --labels FILE      IDX labels file for an IDX INPUT (optional)
  --probs            append the class probabilities (%.6f, space-separated) to each line
  --batch N          batch size (default 256)
  --path P           fast (default) or reference
  --threads N        OpenMP threads for the fast path, 1..1024 (default: all cores, or
                     OMP_NUM_THREADS, capped at 1024)
  --max-memory S     refuse up front when the estimated memory (network, data) exceeds S, e.g.
                     512M or 8G; 0 = no limit (default: 3/4 of physical memory, or of a lower
                     cgroup or ulimit limit)
)TXT";

int cmd_eval(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--checkpoint", "--data", "--split", "--seed", "--batch", "--path", "--threads",
                "--json", "--csv", "--max-memory"},
               {"--help"});
  if (a.has("--help")) {
    std::cout << kEvalUsage;
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("--checkpoint")) throw UsageError("--checkpoint FILE is required");
  const std::string split_name = a.str("--split", "test");
  if (split_name != "test" && split_name != "train")
    throw UsageError("--split: '" + split_name + "' is not test or train");
  const PathKind path = read_path(a);
  const int batch = static_cast<int>(a.integer("--batch", 256, 1, 1 << 20));
  const int threads = read_threads(a);
  const std::uint64_t max_memory = read_max_memory(a);
  const std::string json = a.has("--json") ? a.str("--json", "") : "";
  const std::string csv = a.has("--csv") ? a.str("--csv", "") : "";
  if (!json.empty()) check_output_path("--json", json);
  if (!csv.empty()) check_output_path("--csv", csv);

  const std::string file = a.str("--checkpoint", "");
  const LoadedModel l = load_model(file);
  const std::uint64_t seed = a.seed("--seed", l.seed);
  const std::string name = builtin_name(l.spec);
  const std::string data_dir = a.str("--data", defaults_for(name).data);
  auto inputs = data_inputs(data_dir);
  inputs.push_back({"--checkpoint", file});
  check_aliases({{"--json", json}, {"--csv", csv}}, inputs);
  const data::Split split = data::load_data_dir(data_dir, seed);
  const data::Dataset& d = split_name == "test" ? split.test : split.train;
  check_data_fits(l.spec, d);
  check_command_memory(a, max_memory, l.spec, {path}, std::min(batch, d.size()), threads,
                       MemoryUse::Inference,
                       dataset_bytes(split.train) + dataset_bytes(split.test) +
                           parameters_bytes(l.spec),
                       "evaluating");
  auto net = make_network(path, l.spec, l.params);
  const std::vector<int> pred = predict_classes(*net, d.images, batch);

  const int k = l.spec.classes();
  std::vector<std::vector<long>> cm(std::size_t(k), std::vector<long>(std::size_t(k), 0));
  long correct = 0;
  for (int i = 0; i < d.size(); ++i) {
    ++cm[std::size_t(d.labels[std::size_t(i)])][std::size_t(pred[std::size_t(i)])];
    correct += d.labels[std::size_t(i)] == pred[std::size_t(i)];
  }
  const double accuracy = double(correct) / d.size();
  // Precision of a class nobody predicted, or recall of a class absent from the data: undefined
  // (NaN; "-" in the table, null in JSON).
  const auto ks = static_cast<std::size_t>(k);
  std::vector<double> precision(ks), recall(ks);
  std::vector<long> support(ks), predicted(ks);
  for (int t = 0; t < k; ++t)
    for (int p = 0; p < k; ++p) {
      support[std::size_t(t)] += cm[std::size_t(t)][std::size_t(p)];
      predicted[std::size_t(p)] += cm[std::size_t(t)][std::size_t(p)];
    }
  for (int c = 0; c < k; ++c) {
    const double tp = double(cm[std::size_t(c)][std::size_t(c)]);
    precision[std::size_t(c)] = predicted[std::size_t(c)] ? tp / predicted[std::size_t(c)] : NAN;
    recall[std::size_t(c)] = support[std::size_t(c)] ? tp / support[std::size_t(c)] : NAN;
  }

  auto ratio = [](double v) { return std::isnan(v) ? std::string("     -") : fixed(v, 4); };
  std::cout << "model     " << (name.empty() ? "" : name + ": ") << l.spec.full_text() << "\n";
  if (!l.isa.empty())
    std::cout << "level     trained at " << l.isa << ", evaluated at "
              << (path == PathKind::Reference ? std::string("reference") : fast::active_isa())
              << "\n";
  std::cout
            << "data      " << d.source << " (" << split_name << "): " << d.size() << " samples\n";
  if (!split.note.empty()) std::cout << "note      " << split.note << "\n";
  std::cout << "accuracy  " << fixed(accuracy, 4) << " (" << correct << " of " << d.size() << ")\n\n"
            << "class  precision  recall  support\n";
  for (int c = 0; c < k; ++c) {
    char line[128];
    std::snprintf(line, sizeof line, "%5d  %9s  %6s  %7ld\n", c,
                  ratio(precision[std::size_t(c)]).c_str(), ratio(recall[std::size_t(c)]).c_str(),
                  support[std::size_t(c)]);
    std::cout << line;
  }
  std::cout << "\nconfusion matrix (rows: true class, columns: predicted class)\n" << "true\\pred";
  int width = 5;
  for (const auto& row : cm)
    for (long v : row) width = std::max(width, int(std::to_string(v).size()) + 1);
  for (int p = 0; p < k; ++p)
    std::cout << std::string(std::size_t(width) - std::to_string(p).size(), ' ') << p;
  std::cout << "\n";
  for (int t = 0; t < k; ++t) {
    const std::string label = std::to_string(t);
    std::cout << std::string(9 - label.size(), ' ') << label;
    for (long v : cm[std::size_t(t)])
      std::cout << std::string(std::size_t(width) - std::to_string(v).size(), ' ') << v;
    std::cout << "\n";
  }

  if (!json.empty()) {
    auto num = [](double v) { return std::isnan(v) ? std::string("null") : fmt_g(v); };
    std::ostringstream o;
    o << "{\n  \"model\": " << json_string(l.spec.full_text()) << ",\n  \"split\": "
      << json_string(split_name) << ",\n  \"samples\": " << d.size() << ",\n  \"classes\": " << k
      << ",\n  \"accuracy\": " << fmt_g(accuracy) << ",\n  \"precision\": [";
    for (int c = 0; c < k; ++c) o << (c ? ", " : "") << num(precision[std::size_t(c)]);
    o << "],\n  \"recall\": [";
    for (int c = 0; c < k; ++c) o << (c ? ", " : "") << num(recall[std::size_t(c)]);
    o << "],\n  \"support\": [";
    for (int c = 0; c < k; ++c) o << (c ? ", " : "") << support[std::size_t(c)];
    o << "],\n  \"confusion\": [";
    for (int t = 0; t < k; ++t) {
      o << (t ? ",\n    [" : "\n    [");
      for (int p = 0; p < k; ++p) o << (p ? ", " : "") << cm[std::size_t(t)][std::size_t(p)];
      o << "]";
    }
    o << "\n  ]\n}\n";
    std::cout << std::flush;  // what was printed comes first when the output is /dev/stdout
    write_file_atomic(json, o.str());
    std::cout << "wrote " << json << "\n";
  }
  if (!csv.empty()) {
    std::ostringstream o;
    o << "true";
    for (int p = 0; p < k; ++p) o << "," << p;
    o << "\n";
    for (int t = 0; t < k; ++t) {
      o << t;
      for (long v : cm[std::size_t(t)]) o << "," << v;
      o << "\n";
    }
    std::cout << std::flush;
    write_file_atomic(csv, o.str());
    std::cout << "wrote " << csv << "\n";
  }
  return 0;
}

int cmd_predict(const std::vector<std::string>& argv) {
  const Args a(argv, {"--checkpoint", "--labels", "--batch", "--path", "--threads", "--max-memory"},
               {"--help", "--probs"});
  if (a.has("--help")) {
    std::cout << kPredictUsage;
    return 0;
  }
  if (!a.has("--checkpoint")) throw UsageError("--checkpoint FILE is required");
  if (a.positional().empty()) throw UsageError("INPUT (an IDX images or optdigits file) is required");
  if (a.positional().size() > 1) throw UsageError("unexpected argument '" + a.positional()[1] + "'");
  const PathKind path = read_path(a);
  const int batch = static_cast<int>(a.integer("--batch", 256, 1, 1 << 20));
  const int threads = read_threads(a);
  const std::uint64_t max_memory = read_max_memory(a);
  const bool probs = a.has("--probs");
  const std::string input = a.positional()[0];
  const std::string labels_file = a.has("--labels") ? a.str("--labels", "") : "";

  const std::string checkpoint = a.str("--checkpoint", "");
  if (int(is_standard_input(checkpoint)) + int(is_standard_input(input)) +
          int(is_standard_input(labels_file)) > 1)
    throw UsageError("standard input (-, /dev/stdin) can be only one of --checkpoint, --labels "
                     "and INPUT");

  const LoadedModel l = load_model(checkpoint);
  data::Dataset d;
  bool labelled = true;
  // Opened once: the format is told from the first bytes, which the loader then reads again (a
  // pipe cannot be reopened).
  InputFile in(input, InputFile::Gzip::Auto);
  if (data::is_idx(in)) {
    if (labels_file.empty()) {
      data::Images im = data::load_idx_images(in);
      d.c = 1;
      d.h = im.h;
      d.w = im.w;
      d.images = std::move(im.pixels);
      d.labels.assign(std::size_t(im.n), 0);
      d.source = in.name();
      labelled = false;
    } else {
      InputFile labels(labels_file, InputFile::Gzip::Auto);
      d = data::load_idx(in, labels);
    }
  } else {
    if (!labels_file.empty())
      throw UsageError("--labels is for IDX input; " + in.name() + " is not an IDX file");
    d = data::load_optdigits(in);
  }
  check_data_fits(l.spec, d);
  check_command_memory(a, max_memory, l.spec, {path}, std::min(batch, d.size()), threads,
                       MemoryUse::Inference,
                       dataset_bytes(d) + parameters_bytes(l.spec) +
                           (probs ? std::uint64_t(d.size()) * l.spec.classes() * 4 : 0),
                       "predicting with");
  auto net = make_network(path, l.spec, l.params);
  std::vector<float> logits;
  const std::vector<int> pred =
      predict_classes(*net, d.images, batch, probs ? &logits : nullptr);

  const int k = l.spec.classes();
  std::string out;
  std::vector<double> p(static_cast<std::size_t>(k));
  for (int i = 0; i < d.size(); ++i) {
    out += std::to_string(pred[std::size_t(i)]);
    if (probs) {
      // Softmax after subtracting the largest logit, in double.
      const float* z = logits.data() + std::size_t(i) * k;
      const double m = *std::max_element(z, z + k);
      double sum = 0;
      for (int j = 0; j < k; ++j) sum += (p[std::size_t(j)] = std::exp(double(z[j]) - m));
      for (int j = 0; j < k; ++j) {
        char b[32];
        std::snprintf(b, sizeof b, " %.6f", p[std::size_t(j)] / sum);
        out += b;
      }
    }
    out += '\n';
    if (out.size() > (1 << 16)) {
      std::cout << out;
      out.clear();
    }
  }
  std::cout << out << std::flush;
  if (labelled) {
    long correct = 0;
    for (int i = 0; i < d.size(); ++i) correct += pred[std::size_t(i)] == d.labels[std::size_t(i)];
    std::cerr << "accuracy " << fixed(double(correct) / d.size(), 4) << " (" << correct << " of "
              << d.size() << ") against the labels of "
              << (labels_file.empty()  ? in.name()
                  : labels_file == "-" ? std::string("standard input")
                                       : labels_file)
              << "\n";
  }
  return 0;
}

}  // namespace scratchcnn::cli
