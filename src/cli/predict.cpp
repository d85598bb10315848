// scratchcnn predict: the class of every sample of an input file (report.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "report.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::cli {

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
  --quiet            no accuracy line on stderr and no notes (the predictions still go to stdout)
  --batch N          batch size (default 256)
  --channels N       1 or 3, --resize HxW: shape the images as train does; give the values the
  --resize HxW       model was trained with (the checkpoint does not record them)
%s)TXT";

namespace {

// INPUT as a data set, told IDX from optdigits by its first bytes (opened once: a pipe cannot be
// reopened). `labelled`: whether its labels are known (optdigits, or IDX with --labels).
data::Dataset read_input_file(InputFile& in, const std::string& labels_file, bool& labelled) {
  labelled = true;
  if (data::is_png_signature(in.peek(8)))
    throw UsageError(in.name() + " is a PNG file: predict does not read PNG images yet; put them "
                     "in class folders and run eval --data on the folder");
  if (!data::is_idx(in)) {
    if (!labels_file.empty())
      throw UsageError("--labels is for IDX input; " + in.name() + " is not an IDX file");
    return data::load_optdigits(in);
  }
  if (!labels_file.empty()) {
    InputFile labels(labels_file, InputFile::Gzip::Auto);
    return data::load_idx(in, labels);
  }
  data::Images im = data::load_idx_images(in);
  data::Dataset d;
  d.c = 1;
  d.h = im.h;
  d.w = im.w;
  d.images = std::move(im.pixels);
  d.labels.assign(std::size_t(im.n), 0);
  d.source = in.name();
  labelled = false;
  return d;
}

}  // namespace

void write_predictions(const PredictReport& r, std::ostream& out) {
  const int k = r.classes;
  const bool probs = !r.logits.empty();
  std::string text;
  std::vector<double> p(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < r.predicted.size(); ++i) {
    text += std::to_string(r.predicted[i]);
    if (probs) {
      // Softmax after subtracting the largest logit, in double.
      const float* z = r.logits.data() + i * std::size_t(k);
      const double m = *std::max_element(z, z + k);
      double sum = 0;
      for (int j = 0; j < k; ++j) sum += (p[std::size_t(j)] = std::exp(double(z[j]) - m));
      for (int j = 0; j < k; ++j) {
        char b[32];
        std::snprintf(b, sizeof b, " %.6f", p[std::size_t(j)] / sum);
        text += b;
      }
    }
    text += '\n';
    if (text.size() > (1 << 16)) {
      out << text;
      text.clear();
    }
  }
  out << text << std::flush;
}

int cmd_predict(const std::vector<std::string>& argv) {
  const Args a(argv,
               {"--checkpoint", "--labels", "--batch", "--path", "--threads", "--max-memory",
                "--conv-algo", "--channels", "--resize"},
               {"--help", "--probs", "--quiet"});
  if (a.has("--help")) {
    std::cout << usage_with(kPredictUsage, kModelFileFlags);
    return 0;
  }
  if (!a.has("--checkpoint")) throw UsageError("--checkpoint FILE is required");
  if (a.positional().empty()) throw UsageError("INPUT (an IDX images or optdigits file) is required");
  if (a.positional().size() > 1) throw UsageError("unexpected argument '" + a.positional()[1] + "'");
  const PathKind path = read_path(a);
  (void)read_conv_algo(a);  // a bad value is a usage error before any file is read
  const data::LoadOptions shape = read_load_options(a);
  const int batch = read_batch(a, 256);
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
  InputFile in(input, InputFile::Gzip::Auto);
  PredictReport r;
  data::Dataset d = read_input_file(in, labels_file, r.labelled);
  data::apply_load_options(d, shape);
  if (!r.labelled) d.classes = l.spec.classes();  // no labels: any class count fits
  check_fits(l.spec, d, "predict needs the --channels and --resize the model was trained with");
  const NetworkOptions options{read_conv_algo(a, l.network_options().conv)};
  check_command_memory(a, max_memory, l.spec, {path}, std::min(batch, d.size()), threads,
                       MemoryUse::Inference,
                       dataset_bytes(d) + parameters_bytes(l.spec) +
                           (probs ? std::uint64_t(d.size()) * l.spec.classes() * 4 : 0),
                       "predicting with", options);
  auto net = make_network(path, l.spec, l.params, options);
  r.classes = l.spec.classes();
  r.predicted = predict_classes(*net, d.images, batch, probs ? &r.logits : nullptr);
  for (int i = 0; i < d.size(); ++i) r.correct += r.predicted[std::size_t(i)] == d.labels[std::size_t(i)];
  write_predictions(r, std::cout);
  if (r.labelled && !a.has("--quiet"))
    std::cerr << "accuracy " << fixed(double(r.correct) / d.size(), 4) << " (" << r.correct
              << " of " << d.size() << ") against the labels of "
              << (labels_file.empty()  ? in.name()
                  : labels_file == "-" ? std::string("standard input")
                                       : labels_file)
              << "\n";
  return 0;
}

}  // namespace scratchcnn::cli
