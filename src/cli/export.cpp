// scratchcnn export: a checkpoint's model and parameters as an ONNX file (scratchcnn/onnx.hpp).
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "scratchcnn/error.hpp"
#include "scratchcnn/onnx.hpp"

namespace scratchcnn::cli {

const char* const kExportUsage = R"TXT(usage: scratchcnn export --checkpoint FILE --onnx FILE [flags]

Writes the model and parameters of a checkpoint or parameter file as an ONNX model (IR version 8)
that other runtimes load: OpenCV DNN (cv::dnn::readNetFromONNX), onnxruntime, ... Its input
'input' is float32 [batch, C, H, W] (batch symbolic), pixels scaled as scratchcnn reads them; its
output 'logits' [batch, classes] is what 'scratchcnn predict' computes, before the softmax.
A node per layer: Conv, Gemm (dense, transB=1), Relu, Sigmoid, Tanh, MaxPool, AveragePool,
GlobalAveragePool, Flatten, Identity (dropout); normalize is Sub then Div. See README.md, "Using
the model elsewhere".

  --checkpoint FILE  a checkpoint or parameter file written by train --save (required; - reads
                     standard input)
  --onnx FILE        the ONNX file to write (required); replaced atomically, only once the whole
                     model is built; it must not be the --checkpoint file
  --opset N          ONNX operator set version, 11 to 17 (default 13, which OpenCV 4.6 reads)
  --softmax          append a Softmax node: the output is then 'probabilities' (as predict
                     --probs prints them) instead of 'logits'
  --quiet            print nothing on success (nothing is printed either when --onnx is
                     /dev/stdout: the file is the output)
)TXT";

int cmd_export(const std::vector<std::string>& argv) {
  const Args a(argv, {"--checkpoint", "--onnx", "--opset"}, {"--help", "--softmax", "--quiet"});
  if (a.has("--help")) {
    std::cout << kExportUsage;
    return 0;
  }
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("--checkpoint")) throw UsageError("--checkpoint FILE is required");
  if (!a.has("--onnx")) throw UsageError("--onnx FILE is required");
  onnx::ExportOptions options;
  options.opset = static_cast<int>(a.integer("--opset", onnx::kDefaultOpset, onnx::kMinOpset,
                                             onnx::kMaxOpset));
  options.softmax = a.has("--softmax");
  options.producer_version = SCRATCHCNN_VERSION;
  const std::string checkpoint = a.str("--checkpoint", "");
  const std::string out = a.str("--onnx", "");
  if (checkpoint.empty()) throw UsageError("--checkpoint: empty file name");
  if (out.empty()) throw UsageError("--onnx: empty file name");
  if (out == "-")
    throw UsageError("--onnx -: write to standard output as --onnx /dev/stdout ('-' would be a file "
                     "named '-')");
  // Before any file is read: the output can be written, and is not the input.
  check_output_path("--onnx", out);
  check_aliases({{"--onnx", out}}, {{"--checkpoint", checkpoint}});
  // The file itself on standard output (--onnx /dev/stdout, to a pipe): no "wrote" line after it.
  const bool to_stdout = resolve_output(out).fd == 1;
  const LoadedModel l = load_model(checkpoint);
  const std::string bytes = onnx::export_model(l.spec, l.params, options);
  std::cout << std::flush;  // anything printed comes first when the output is /dev/stdout
  write_file_atomic(out, bytes);
  if (!a.has("--quiet") && !to_stdout)
    std::cout << "wrote " << out << " (" << with_commas(static_cast<long long>(bytes.size()))
              << " bytes, opset " << options.opset << "): input '" << onnx::kInputName
              << "' [batch, " << l.spec.input.c << ", " << l.spec.input.h << ", "
              << l.spec.input.w << "], output '"
              << (options.softmax ? onnx::kProbabilitiesName : onnx::kLogitsName) << "' [batch, "
              << l.spec.classes() << "]\n";
  return 0;
}

}  // namespace scratchcnn::cli
