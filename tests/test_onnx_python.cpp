// ONNX export read by onnx itself (python3-onnx): its checker (full_check, strict shape inference)
// accepts every exported file, and its parser reads back exactly the graph the export meant to
// write: header, metadata, input and output, nodes and attributes, initializer values, and the
// shape onnx infers for every intermediate value, which must be the shape our own shape
// inference gives that layer (tests/onnx_check.py prints what it reads).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "io/protobuf.hpp"
#include "onnx_models.hpp"
#include "scratchcnn/onnx.hpp"
#include "test_support.hpp"

using namespace scratchcnn;
using namespace scratchcnn::test;

namespace {

std::string hex_of(const std::vector<float>& v) {
  std::string raw;
  for (const float x : v) protobuf::put_float_le(raw, x);
  std::string hex;
  char b[3];
  for (const unsigned char c : raw) {
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  return hex;
}

// A float attribute as onnx_check.py prints it: its bits.
std::string python_float(float f) { return "f32:" + hex_of({f}); }

std::string shape_of(const Shape& s) {
  return s.flat ? "[batch," + std::to_string(s.c) + "]"
                : "[batch," + std::to_string(s.c) + "," + std::to_string(s.h) + "," +
                      std::to_string(s.w) + "]";
}

std::string ints(std::initializer_list<int> v) {
  std::string s = "[";
  for (const int x : v) s += (s.size() > 1 ? "," : "") + std::to_string(x);
  return s + "]";
}

// What onnx_check.py must print for the export of (spec, p) with `o`: written here from the
// model, independently of the exporter's code.
std::string expected_summary(const ModelSpec& spec, const Parameters& p,
                             const onnx::ExportOptions& o) {
  std::ostringstream s;
  const std::string output = o.softmax ? "probabilities" : "logits";
  s << "ir_version 8\nopset '' " << o.opset << "\nproducer scratchcnn " << o.producer_version
    << "\nmetadata scratchcnn.model=" << spec.full_text() << "\nmetadata scratchcnn.output="
    << output << "\ngraph scratchcnn\ninput input float " << shape_of(spec.input) << "\noutput "
    << output << " float [batch," << spec.classes() << "]\n";
  std::string inits, values, in = "input";
  static const std::map<LayerKind, std::string> suffix = {
      {LayerKind::Conv, "conv"},       {LayerKind::Dense, "dense"},     {LayerKind::ReLU, "relu"},
      {LayerKind::Sigmoid, "sigmoid"}, {LayerKind::MaxPool, "maxpool"}, {LayerKind::Flatten, "flatten"},
      {LayerKind::Tanh, "tanh"},       {LayerKind::AvgPool, "avgpool"}, {LayerKind::GlobalAvgPool, "gap"},
      {LayerKind::Dropout, "dropout"}, {LayerKind::Normalize, "normalize"},
      {LayerKind::BatchNorm, "batchnorm"}};
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string name = "layer" + std::to_string(i + 1) + "_" + suffix.at(l.kind);
    const bool last = i + 1 == spec.layers.size();
    const std::string out = last ? "logits" : name;
    const std::string io = " " + name + " (" + in;
    const std::string params = "," + name + ".weight," + name + ".bias) -> (" + out + ")";
    switch (l.kind) {
      case LayerKind::Conv: {
        const int st = std::max(1, l.stride);
        s << "node Conv" << io << params << " dilations=[1,1] group=1 kernel_shape="
          << ints({l.k, l.k}) << " pads=" << ints({l.pad, l.pad, l.pad, l.pad})
          << " strides=" << ints({st, st}) << "\n";
        inits += "initializer " + name + ".weight float " +
                 ints({l.out, l.in, l.k, l.k}) + " " + hex_of(p.layers[i].weights) + "\n";
        inits += "initializer " + name + ".bias float " + ints({l.out}) + " " +
                 hex_of(p.layers[i].bias) + "\n";
        break;
      }
      case LayerKind::Dense:
        s << "node Gemm" << io << params << " transB=1\n";
        inits += "initializer " + name + ".weight float " + ints({l.out, l.in}) + " " +
                 hex_of(p.layers[i].weights) + "\n";
        inits += "initializer " + name + ".bias float " + ints({l.out}) + " " +
                 hex_of(p.layers[i].bias) + "\n";
        break;
      case LayerKind::ReLU: s << "node Relu" << io << ") -> (" << out << ")\n"; break;
      case LayerKind::Sigmoid: s << "node Sigmoid" << io << ") -> (" << out << ")\n"; break;
      case LayerKind::Tanh: s << "node Tanh" << io << ") -> (" << out << ")\n"; break;
      case LayerKind::MaxPool:
        s << "node MaxPool" << io << ") -> (" << out << ") kernel_shape=" << ints({l.k, l.k})
          << " strides=" << ints({l.k, l.k}) << "\n";
        break;
      case LayerKind::AvgPool: {
        const int st = l.stride > 0 ? l.stride : l.k;
        s << "node AveragePool" << io << ") -> (" << out << ") kernel_shape=" << ints({l.k, l.k})
          << " strides=" << ints({st, st}) << "\n";
        break;
      }
      case LayerKind::GlobalAvgPool:
        s << "node GlobalAveragePool" << io << ") -> (" << out << ")\n";
        break;
      case LayerKind::Flatten: s << "node Flatten" << io << ") -> (" << out << ") axis=1\n"; break;
      case LayerKind::Dropout: s << "node Identity" << io << ") -> (" << out << ")\n"; break;
      case LayerKind::Normalize: {
        const Shape& x = spec.info[i].in;
        std::vector<float> mean, stdev;
        for (int c = 0; c < x.c; ++c) {
          mean.push_back(l.mean_of(c));
          stdev.push_back(l.stdev_of(c));
        }
        const std::string dims = x.flat ? ints({x.c}) : ints({x.c, 1, 1});
        s << "node Sub " << name << "_sub (" << in << "," << name << ".mean) -> (" << name
          << "_sub)\n";
        s << "node Div " << name << " (" << name << "_sub," << name << ".std) -> (" << out << ")\n";
        inits += "initializer " + name + ".mean float " + dims + " " + hex_of(mean) + "\n";
        inits += "initializer " + name + ".std float " + dims + " " + hex_of(stdev) + "\n";
        values += "value " + name + "_sub float " + shape_of(x) + "\n";
        break;
      }
      case LayerKind::BatchNorm: {
        const std::vector<float>& r = p.layers[i].running;
        const std::size_t c = std::size_t(l.out);
        s << "node BatchNormalization" << io << "," << name << ".weight," << name << ".bias," << name
          << ".running_mean," << name << ".running_var) -> (" << out << ") epsilon="
          << python_float(1e-5f) << "\n";
        inits += "initializer " + name + ".weight float " + ints({l.out}) + " " + hex_of(p.layers[i].weights) + "\n";
        inits += "initializer " + name + ".bias float " + ints({l.out}) + " " + hex_of(p.layers[i].bias) + "\n";
        inits += "initializer " + name + ".running_mean float " + ints({l.out}) + " " +
                 hex_of(std::vector<float>(r.begin(), r.begin() + std::ptrdiff_t(c))) + "\n";
        inits += "initializer " + name + ".running_var float " + ints({l.out}) + " " +
                 hex_of(std::vector<float>(r.begin() + std::ptrdiff_t(c), r.end())) + "\n";
        break;
      }
    }
    if (!last || o.softmax) values += "value " + out + " float " + shape_of(spec.info[i].out) + "\n";
    in = out;
  }
  if (o.softmax) s << "node Softmax softmax (logits) -> (probabilities) axis=1\n";
  s << inits << values;
  return s.str();
}

struct Case {
  std::string file;
  ModelSpec spec;
  Parameters params;
  onnx::ExportOptions options;
};

// Runs onnx_check.py on every case's file; its output split by file.
std::map<std::string, std::string> check_all(const std::vector<Case>& cases) {
  std::string command = std::string(SCRATCHCNN_ONNX_PYTHON) + " " + SCRATCHCNN_SOURCE_DIR +
                        "/tests/onnx_check.py";
  for (const Case& c : cases) command += " " + c.file;
  const CliResult r = run_command("PYTHONDONTWRITEBYTECODE=1 " + command);
  EXPECT_EQ(r.code, 0) << r.err;
  std::map<std::string, std::string> by_file;
  std::istringstream lines(r.out);
  std::string file;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("file ", 0) == 0)
      file = line.substr(5);
    else
      by_file[file] += line + "\n";
  }
  return by_file;
}

void check_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases)
    write_file(c.file, onnx::export_model(c.spec, c.params, c.options));
  const auto read_back = check_all(cases);
  for (const Case& c : cases)
    EXPECT_EQ(read_back.count(c.file) ? read_back.at(c.file) : std::string("(not read)"),
              expected_summary(c.spec, c.params, c.options))
        << c.spec.full_text();
}

}  // namespace

TEST(OnnxPython, BuiltinModelsAndEveryLayerKind) {
  const std::string dir = temp_dir("onnx-python");
  std::vector<Case> cases;
  for (const NamedModel& m : onnx_test_models()) {
    onnx::ExportOptions o;
    o.producer_version = "1.2.3";
    cases.push_back({dir + "/" + m.name + ".onnx", m.spec, export_test_parameters(m.spec, 7), o});
    for (const int opset : {onnx::kMinOpset, onnx::kMaxOpset}) {
      o.opset = opset;
      o.softmax = opset == onnx::kMinOpset;
      cases.push_back({dir + "/" + m.name + "-" + std::to_string(opset) + ".onnx", m.spec,
                       export_test_parameters(m.spec, 8), o});
    }
  }
  check_cases(cases);
}

TEST(OnnxPython, RandomValidModels) {
  const std::string dir = temp_dir("onnx-python-random");
  std::vector<Case> cases;
  int i = 0;
  for (const ModelSpec& spec : random_valid_models(23, 40)) {
    onnx::ExportOptions o;
    o.softmax = i % 5 == 0;
    cases.push_back({dir + "/r" + std::to_string(i++) + ".onnx", spec,
                     export_test_parameters(spec, std::uint64_t(i)), o});
  }
  ASSERT_EQ(cases.size(), 40u);
  check_cases(cases);
}

// The checker is no rubber stamp: a file cut short is refused.
TEST(OnnxPython, CheckerRefusesABrokenFile) {
  const std::string dir = temp_dir("onnx-python-broken");
  const ModelSpec spec = parse_model(kSeedModelText);
  const std::string bytes = onnx::export_model(spec, export_test_parameters(spec, 1));
  write_file(dir + "/cut.onnx", bytes.substr(0, bytes.size() - 7));
  const CliResult r = run_command(std::string(SCRATCHCNN_ONNX_PYTHON) + " " + SCRATCHCNN_SOURCE_DIR +
                                  "/tests/onnx_check.py " + dir + "/cut.onnx");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "refused")) << r.err;
}
