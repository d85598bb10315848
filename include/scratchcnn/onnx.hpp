#pragma once
// ONNX export: a model and its parameters as an ONNX file that other runtimes load (OpenCV DNN,
// onnxruntime, ...). The file is written with our own protocol buffers writer (no protobuf or
// onnx library needed); docs/file-formats.md describes the graph.
#include <cstdint>
#include <string>

#include "scratchcnn/model_spec.hpp"
#include "scratchcnn/parameters.hpp"

namespace scratchcnn::onnx {

// The ONNX IR version of every file written (ONNX 1.10 and later read it).
inline constexpr std::int64_t kIrVersion = 8;
// The default operator set, and the range offered: every op the export uses has the same meaning
// in all of them for the attributes written (Softmax is written with axis=1 on a 2-D input, where
// its opset 11 and 13 definitions agree). 13 is read by OpenCV 4.6, onnxruntime and onnx 1.8+;
// 17 is the newest that Debian 12's onnx (1.12) checks, and OpenCV 4.6 runs 11, 13 and 17 alike
// (tests/test_onnx_opencv.cpp).
inline constexpr int kDefaultOpset = 13;
inline constexpr int kMinOpset = 11;
inline constexpr int kMaxOpset = 17;
// An ONNX file is one protobuf message, which parsers refuse beyond 2 GiB; the export writes no
// external data, so it refuses a model whose file would exceed this.
inline constexpr std::uint64_t kMaxFileBytes = (std::uint64_t(1) << 31) - 1;

// The names of the graph's input and output values.
inline constexpr const char* kInputName = "input";
inline constexpr const char* kLogitsName = "logits";
inline constexpr const char* kProbabilitiesName = "probabilities";  // with softmax

struct ExportOptions {
  int opset = kDefaultOpset;  // kMinOpset..kMaxOpset
  // Append a Softmax(axis=1) node: the output is then "probabilities" instead of "logits".
  bool softmax = false;
  std::string producer_version;  // ModelProto.producer_version (may be empty)
};

// The bytes of an ONNX ModelProto computing spec with p for a batch of N samples:
//   input  "input"  float32 [batch, C, H, W] (batch a symbolic dimension)
//   output "logits" float32 [batch, classes]: what Network::predict computes (no softmax),
//          or "probabilities" with options.softmax
// a node per layer: Conv (kernel_shape, pads, strides, with bias), Gemm (transB=1) for dense,
// Relu, Sigmoid, Tanh, MaxPool, AveragePool, GlobalAveragePool, Flatten(axis=1), Identity for
// dropout; two for normalize, Sub then Div by per-channel constants; weights and
// biases as float32 initializers in the canonical layout (conv OIHW, dense [out, in]).
// Throws Error when p does not fit spec, the opset is out of range, or the file would exceed
// kMaxFileBytes.
std::string export_model(const ModelSpec& spec, const Parameters& p, const ExportOptions& options = {});

}  // namespace scratchcnn::onnx
