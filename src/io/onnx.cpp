// ONNX export (onnx.hpp): the ModelProto of a model, written field by field with the wire-format
// writer of protobuf.hpp. The field numbers are those of onnx/onnx.proto (IR version 8).
#include "scratchcnn/onnx.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/batchnorm.hpp"
#include "io/protobuf.hpp"
#include "scratchcnn/error.hpp"

namespace scratchcnn::onnx {

namespace {

using protobuf::Message;

// Field numbers (onnx.proto).
namespace model {
constexpr std::uint32_t kIrVersion = 1, kProducerName = 2, kProducerVersion = 3, kDocString = 6,
                        kGraph = 7, kOpsetImport = 8, kMetadataProps = 14;
}
namespace opset_id {
constexpr std::uint32_t kDomain = 1, kVersion = 2;
}
namespace entry {  // StringStringEntryProto
constexpr std::uint32_t kKey = 1, kValue = 2;
}
namespace graph {
constexpr std::uint32_t kNode = 1, kName = 2, kInitializer = 5, kDocString = 10, kInput = 11,
                        kOutput = 12;
}
namespace node {
constexpr std::uint32_t kInput = 1, kOutput = 2, kName = 3, kOpType = 4, kAttribute = 5;
}
namespace attribute {
constexpr std::uint32_t kName = 1, kF = 2, kI = 3, kInts = 8, kType = 20;
constexpr std::int64_t kFloatType = 1, kInt = 2, kIntsType = 7;  // AttributeProto.AttributeType
}
namespace tensor {
constexpr std::uint32_t kDims = 1, kDataType = 2, kName = 8, kRawData = 9;
constexpr std::int64_t kFloat = 1;  // TensorProto.DataType FLOAT
}
namespace value_info {
constexpr std::uint32_t kName = 1, kType = 2;
}
namespace type {
constexpr std::uint32_t kTensorType = 1;  // TypeProto
constexpr std::uint32_t kElemType = 1, kShape = 2;  // TypeProto.Tensor
constexpr std::uint32_t kDim = 1;  // TensorShapeProto
constexpr std::uint32_t kDimValue = 1, kDimParam = 2;  // TensorShapeProto.Dimension
}

Message int_attribute(const std::string& name, std::int64_t v) {
  Message a;
  a.bytes(attribute::kName, name).varint(attribute::kI, v).varint(attribute::kType, attribute::kInt);
  return a;
}

Message float_attribute(const std::string& name, float v) {
  Message a;
  a.bytes(attribute::kName, name).fixed32(attribute::kF, v).varint(attribute::kType, attribute::kFloatType);
  return a;
}

Message ints_attribute(const std::string& name, const std::vector<std::int64_t>& v) {
  Message a;
  a.bytes(attribute::kName, name);
  for (const std::int64_t x : v) a.varint(attribute::kInts, x);
  a.varint(attribute::kType, attribute::kIntsType);
  return a;
}

Message make_node(const std::string& op, const std::string& name,
                  const std::vector<std::string>& inputs, const std::string& output,
                  const std::vector<Message>& attributes = {}) {
  Message n;
  for (const std::string& in : inputs) n.bytes(node::kInput, in);
  n.bytes(node::kOutput, output).bytes(node::kName, name).bytes(node::kOpType, op);
  for (const Message& a : attributes) n.message(node::kAttribute, a);
  return n;
}

// A float32 initializer with its values as raw little-endian bytes.
Message float_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                     const std::vector<float>& values) {
  Message t;
  for (const std::int64_t d : dims) t.varint(tensor::kDims, d);
  t.varint(tensor::kDataType, tensor::kFloat).bytes(tensor::kName, name);
  std::string raw;
  raw.reserve(values.size() * 4);
  for (const float v : values) protobuf::put_float_le(raw, v);
  t.bytes(tensor::kRawData, raw);
  return t;
}

// A float32 tensor value: dims of -1 are the symbolic dimension "batch".
Message tensor_value(const std::string& name, const std::vector<std::int64_t>& dims) {
  Message shape;
  for (const std::int64_t d : dims) {
    Message dim;
    if (d < 0)
      dim.bytes(type::kDimParam, "batch");
    else
      dim.varint(type::kDimValue, d);
    shape.message(type::kDim, dim);
  }
  Message tensor_type;
  tensor_type.varint(type::kElemType, tensor::kFloat).message(type::kShape, shape);
  Message t;
  t.message(type::kTensorType, tensor_type);
  Message v;
  v.bytes(value_info::kName, name).message(value_info::kType, t);
  return v;
}

Message string_entry(const std::string& key, const std::string& value) {
  Message e;
  e.bytes(entry::kKey, key).bytes(entry::kValue, value);
  return e;
}

const char* op_suffix(LayerKind k) {
  switch (k) {
    case LayerKind::Conv: return "conv";
    case LayerKind::Dense: return "dense";
    case LayerKind::ReLU: return "relu";
    case LayerKind::Sigmoid: return "sigmoid";
    case LayerKind::MaxPool: return "maxpool";
    case LayerKind::Flatten: return "flatten";
    case LayerKind::Tanh: return "tanh";
    case LayerKind::AvgPool: return "avgpool";
    case LayerKind::GlobalAvgPool: return "gap";
    case LayerKind::Dropout: return "dropout";
    case LayerKind::Normalize: return "normalize";
    case LayerKind::BatchNorm: return "batchnorm";
  }
  return "layer";
}

}  // namespace

std::string export_model(const ModelSpec& spec, const Parameters& p, const ExportOptions& options) {
  if (options.opset < kMinOpset || options.opset > kMaxOpset)
    throw Error("ONNX export: opset " + std::to_string(options.opset) + " is not offered (" +
                std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
  // Each value costs 4 bytes of raw data; the rest (names, attributes, the model text a few times)
  // is small. Refused from the model alone, before the values are looked at or anything is built.
  const std::uint64_t values_bytes = std::uint64_t(spec.param_count()) * 4;
  const std::uint64_t estimate = values_bytes + 4 * spec.full_text().size() + 64 * 1024;
  if (estimate > kMaxFileBytes)
    throw Error("ONNX export: the parameters take " + std::to_string(values_bytes) +
                " bytes; an ONNX file is one protobuf message of at most 2 GiB (2147483647 bytes) "
                "and the export writes no external data");
  check_parameters(spec, p);

  Message g;
  std::vector<Message> initializers;
  std::string current = kInputName;
  const std::size_t n = spec.layers.size();
  for (std::size_t i = 0; i < n; ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string name = "layer" + std::to_string(i + 1) + "_" + op_suffix(l.kind);
    const bool last = i + 1 == n;
    const std::string out =
        last ? std::string(kLogitsName) : name;  // a node's output is named after the node
    const std::int64_t k = l.k;
    switch (l.kind) {
      case LayerKind::Conv: {
        const std::int64_t s = std::max(1, l.stride), pad = l.pad;
        initializers.push_back(float_tensor(name + ".weight", {l.out, l.in, k, k}, p.layers[i].weights));
        initializers.push_back(float_tensor(name + ".bias", {l.out}, p.layers[i].bias));
        g.message(graph::kNode,
                  make_node("Conv", name, {current, name + ".weight", name + ".bias"}, out,
                            {ints_attribute("kernel_shape", {k, k}),
                             ints_attribute("pads", {pad, pad, pad, pad}),
                             ints_attribute("strides", {s, s}),
                             ints_attribute("dilations", {1, 1}), int_attribute("group", 1)}));
        break;
      }
      case LayerKind::Dense:
        initializers.push_back(float_tensor(name + ".weight", {l.out, l.in}, p.layers[i].weights));
        initializers.push_back(float_tensor(name + ".bias", {l.out}, p.layers[i].bias));
        g.message(graph::kNode, make_node("Gemm", name, {current, name + ".weight", name + ".bias"},
                                          out, {int_attribute("transB", 1)}));
        break;
      case LayerKind::ReLU: g.message(graph::kNode, make_node("Relu", name, {current}, out)); break;
      case LayerKind::Sigmoid:
        g.message(graph::kNode, make_node("Sigmoid", name, {current}, out));
        break;
      case LayerKind::Tanh: g.message(graph::kNode, make_node("Tanh", name, {current}, out)); break;
      case LayerKind::MaxPool:
        g.message(graph::kNode, make_node("MaxPool", name, {current}, out,
                                          {ints_attribute("kernel_shape", {k, k}),
                                           ints_attribute("strides", {k, k})}));
        break;
      case LayerKind::AvgPool: {
        const std::int64_t s = l.stride > 0 ? l.stride : l.k;
        g.message(graph::kNode, make_node("AveragePool", name, {current}, out,
                                          {ints_attribute("kernel_shape", {k, k}),
                                           ints_attribute("strides", {s, s})}));
        break;
      }
      case LayerKind::GlobalAvgPool:
        g.message(graph::kNode, make_node("GlobalAveragePool", name, {current}, out));
        break;
      case LayerKind::Flatten:
        g.message(graph::kNode,
                  make_node("Flatten", name, {current}, out, {int_attribute("axis", 1)}));
        break;
      case LayerKind::Dropout:
        // The identity in inference, which is all an exported model does.
        g.message(graph::kNode, make_node("Identity", name, {current}, out));
        break;
      case LayerKind::Normalize: {
        // Sub then Div by per-channel constants ([C, 1, 1], or [C] after flatten), broadcast over
        // the batch and the plane: the two operations of ours, in our order.
        const Shape& in = spec.info[i].in;
        std::vector<float> mean, stdev;
        for (int c = 0; c < in.c; ++c) {
          mean.push_back(l.mean_of(c));
          stdev.push_back(l.stdev_of(c));
        }
        const std::vector<std::int64_t> dims =
            in.flat ? std::vector<std::int64_t>{in.c} : std::vector<std::int64_t>{in.c, 1, 1};
        initializers.push_back(float_tensor(name + ".mean", dims, mean));
        initializers.push_back(float_tensor(name + ".std", dims, stdev));
        g.message(graph::kNode, make_node("Sub", name + "_sub", {current, name + ".mean"}, name + "_sub"));
        g.message(graph::kNode, make_node("Div", name, {name + "_sub", name + ".std"}, out));
        break;
      }
      case LayerKind::BatchNorm: {
        // Inference form: the running statistics, epsilon 1e-5 (batchnorm.hpp).
        const std::vector<float> values = p.with_running(spec).layers[i].running;
        const auto half = values.begin() + l.out;
        initializers.push_back(float_tensor(name + ".weight", {l.out}, p.layers[i].weights));
        initializers.push_back(float_tensor(name + ".bias", {l.out}, p.layers[i].bias));
        initializers.push_back(float_tensor(name + ".running_mean", {l.out}, {values.begin(), half}));
        initializers.push_back(float_tensor(name + ".running_var", {l.out}, {half, values.end()}));
        g.message(graph::kNode,
                  make_node("BatchNormalization", name,
                            {current, name + ".weight", name + ".bias", name + ".running_mean",
                             name + ".running_var"},
                            out, {float_attribute("epsilon", float(batchnorm::kEps))}));
        break;
      }
    }
    current = out;
  }
  std::string output = kLogitsName;
  if (options.softmax) {
    output = kProbabilitiesName;
    g.message(graph::kNode, make_node("Softmax", "softmax", {current}, output,
                                      {int_attribute("axis", 1)}));
  }
  g.bytes(graph::kName, "scratchcnn");
  for (const Message& t : initializers) g.message(graph::kInitializer, t);
  initializers.clear();
  g.bytes(graph::kDocString, spec.full_text());
  g.message(graph::kInput, tensor_value(kInputName, {-1, spec.input.c, spec.input.h, spec.input.w}));
  g.message(graph::kOutput, tensor_value(output, {-1, spec.classes()}));

  Message m;
  m.varint(model::kIrVersion, kIrVersion).bytes(model::kProducerName, "scratchcnn");
  if (!options.producer_version.empty())
    m.bytes(model::kProducerVersion, options.producer_version);
  m.bytes(model::kDocString,
          "scratchcnn model " + spec.full_text() + ". Input '" + kInputName + "' [batch, " +
              std::to_string(spec.input.c) + ", " + std::to_string(spec.input.h) + ", " +
              std::to_string(spec.input.w) + "] float32; output '" + output + "' [batch, " +
              std::to_string(spec.classes()) + "]: " +
              (options.softmax ? "softmax probabilities" : "logits (no softmax)") + ".");
  m.message(model::kGraph, g);
  Message opset;
  opset.bytes(opset_id::kDomain, "").varint(opset_id::kVersion, options.opset);
  m.message(model::kOpsetImport, opset);
  m.message(model::kMetadataProps, string_entry("scratchcnn.model", spec.full_text()));
  m.message(model::kMetadataProps, string_entry("scratchcnn.output", output));
  std::string bytes = m.take();
  if (bytes.size() > kMaxFileBytes)
    throw Error("ONNX export: the file would take " + std::to_string(bytes.size()) +
                " bytes; an ONNX file is one protobuf message of at most 2 GiB (2147483647 bytes)");
  return bytes;
}

}  // namespace scratchcnn::onnx
