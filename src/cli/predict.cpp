// scratchcnn predict: the class of every sample of an input file (report.hpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "report.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::cli {

const char* const kPredictUsage = R"TXT(usage: scratchcnn predict --checkpoint FILE [flags] INPUT...

Prints one line per sample of INPUT: the predicted class, then with --probs the softmax
probability of every class. INPUT is an IDX images file (plain or gzip; MNIST format) or an
optdigits file (rows of 64 pixels and a label, plain or gzip), told apart by its first bytes; a
file, a FIFO, or - for standard input. When labels are known (an optdigits file, or --labels),
the accuracy goes to stderr. INPUT, --labels and --checkpoint accept - (one of them at most; a
name for standard input such as /dev/stdin counts as -).
INPUT may also be PNG files (a PNG on standard input too) and folders of them (their *.png files,
in name order): one line per file, "FILE CLASS", CLASS the class name the checkpoint records
(an image folder's sub-folder names) or else the class number. The images are shaped as the
model was trained (--channels, --resize) and must then have its input shape.

  --checkpoint FILE  a checkpoint or parameter file written by train --save (required)
  --labels FILE      IDX labels file for an IDX INPUT (optional)
  --probs            append the class probabilities (%.6f, space-separated) to each line
  --quiet            no accuracy line on stderr and no notes (the predictions still go to stdout)
  --batch N          batch size (default 256)
  --channels N       1 or 3, --resize HxW: shape the images as train does (default: what the
  --resize HxW       checkpoint records, as the run was trained; a different value is an error)
%s)TXT";

namespace {

bool is_folder(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

bool png_name(const std::string& name) {
  if (name.size() < 4) return false;
  std::string ext = name.substr(name.size() - 4);
  for (char& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".png";
}

// The PNG files of INPUTs: a file as given, a folder's *.png files (any case, not in sub-folders,
// names starting with '.' skipped) in byte order. A folder without any is an error naming it.
std::vector<std::string> png_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    if (!is_folder(in)) {
      files.push_back(in);
      continue;
    }
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(in, ec)) {
      const std::string name = e.path().filename().string();
      std::error_code fe;
      if (!name.empty() && name[0] != '.' && png_name(name) && e.is_regular_file(fe))
        found.push_back(e.path().string());
    }
    if (ec) throw Error(in + ": cannot list the folder: " + ec.message());
    if (found.empty()) throw Error(in + ": a folder without any .png file");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

// PNG files shaped as the model's input (`shape`: --channels and --resize), one sample each; an
// image of another shape is an error naming the file and the flags that would fit it.
data::Dataset read_pngs(const std::vector<std::string>& files, const data::LoadOptions& shape,
                        const ModelSpec& spec, InputFile* opened = nullptr) {
  data::Dataset d;
  d.c = spec.input.c;
  d.h = spec.input.h;
  d.w = spec.input.w;
  d.classes = spec.classes();
  d.source = files.size() == 1 ? files[0] : std::to_string(files.size()) + " PNG files";
  for (const std::string& f : files) {
    data::Picture p = opened ? data::load_png(*opened) : data::load_png(f);
    if (shape.channels != 0) data::convert_channels(p, shape.channels);
    if (shape.resize_h != 0) data::resize_bilinear(p, shape.resize_h, shape.resize_w);
    if (p.c != d.c || p.h != d.h || p.w != d.w)
      throw Error((f == "-" ? std::string("standard input") : f) + ": a " + std::to_string(p.c) + "x" +
                  std::to_string(p.h) + "x" + std::to_string(p.w) + " image; the model takes " +
                  spec.input.str() + " (--channels " + std::to_string(d.c) + " and --resize " +
                  std::to_string(d.h) + "x" + std::to_string(d.w) + " convert it)");
    d.images.insert(d.images.end(), p.pixels.begin(), p.pixels.end());
    d.labels.push_back(0);
  }
  return d;
}

// INPUT as a data set, told IDX from optdigits by its first bytes (opened once: a pipe cannot be
// reopened). `labelled`: whether its labels are known (optdigits, or IDX with --labels).
data::Dataset read_input_file(InputFile& in, const std::string& labels_file, bool& labelled) {
  labelled = true;
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
    if (!r.files.empty()) text += terminal_safe(r.files[i]) + ' ';
    const std::size_t c = std::size_t(r.predicted[i]);
    text += !r.files.empty() && c < r.class_names.size() ? terminal_safe(r.class_names[c])
                                                          : std::to_string(r.predicted[i]);
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
  if (a.positional().empty())
    throw UsageError("INPUT (an IDX images or optdigits file, PNG files or a folder of them) is required");
  if (a.positional().size() > 1 && a.has("--labels"))
    throw UsageError("--labels is for one IDX INPUT; several INPUTs are PNG files or folders");
  const PathKind path = read_path(a);
  (void)read_conv_algo(a);  // a bad value is a usage error before any file is read
  (void)read_load_options(a);
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
  const data::LoadOptions shape =
      load_options_for(a, l.state ? l.state->load : data::LoadOptions{}, checkpoint);
  PredictReport r;
  if (l.state) r.class_names = l.state->class_names;
  // PNG files or folders of them (one line per file), or one IDX or optdigits file.
  const std::vector<std::string>& inputs = a.positional();
  std::optional<InputFile> in;
  data::Dataset d;
  if (is_folder(input) || inputs.size() > 1) {
    if (!labels_file.empty()) throw UsageError("--labels is for an IDX INPUT, not for PNG files");
    r.files = png_inputs(inputs);
    d = read_pngs(r.files, shape, l.spec);
  } else {
    // One file, opened once (a pipe cannot be reopened) and told apart by its first bytes.
    in.emplace(input, InputFile::Gzip::Auto);
    if (data::is_png_signature(in->peek(8))) {
      if (!labels_file.empty()) throw UsageError("--labels is for an IDX INPUT, not for PNG files");
      r.files = {input};
      d = read_pngs(r.files, shape, l.spec, &*in);
    } else {
      d = read_input_file(*in, labels_file, r.labelled);
      data::apply_load_options(d, shape);
    }
  }
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
              << (labels_file.empty()  ? in->name()
                  : labels_file == "-" ? std::string("standard input")
                                       : labels_file)
              << "\n";
  return 0;
}

}  // namespace scratchcnn::cli
