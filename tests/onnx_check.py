#!/usr/bin/env python3
"""Checks ONNX files with onnx's own checker and prints what onnx's parser reads back.

    onnx_check.py FILE...

For each FILE: onnx.checker.check_model(full_check=True) (which also runs strict shape
inference), then a summary that test_onnx_python.cpp compares with what the export meant to write:
the header, the metadata, the graph's input and output, every node with its attributes, every
initializer (its values as the hex of their little-endian float32 bytes), and the shape that
onnx's shape inference gives each intermediate value. Exits 1 at the first file it refuses.
"""
import struct
import sys

import onnx
import onnx.checker
import onnx.helper
import onnx.numpy_helper
import onnx.shape_inference


def dims(type_proto):
    shape = type_proto.tensor_type.shape
    out = []
    for d in shape.dim:
        out.append(d.dim_param if d.HasField("dim_param") else str(d.dim_value))
    return "[" + ",".join(out) + "]"


def elem(type_proto):
    return onnx.TensorProto.DataType.Name(type_proto.tensor_type.elem_type).lower()


def value(v):
    if isinstance(v, list):
        return "[" + ",".join(str(x) for x in v) + "]"
    if isinstance(v, float):  # a float attribute: its 32 bits, little-endian, in hex
        return "f32:" + struct.pack("<f", v).hex()
    return str(v)


def summary(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    lines = [f"ir_version {model.ir_version}"]
    for o in model.opset_import:
        lines.append(f"opset '{o.domain}' {o.version}")
    lines.append(f"producer {model.producer_name} {model.producer_version}")
    for p in model.metadata_props:
        lines.append(f"metadata {p.key}={p.value}")
    g = model.graph
    lines.append(f"graph {g.name}")
    for v in g.input:
        lines.append(f"input {v.name} {elem(v.type)} {dims(v.type)}")
    for v in g.output:
        lines.append(f"output {v.name} {elem(v.type)} {dims(v.type)}")
    for n in g.node:
        attrs = sorted((a.name, onnx.helper.get_attribute_value(a)) for a in n.attribute)
        text = " ".join(f"{k}={value(v)}" for k, v in attrs)
        lines.append(f"node {n.op_type} {n.name} ({','.join(n.input)}) -> ({','.join(n.output)})"
                     + (" " + text if text else ""))
    for t in g.initializer:
        a = onnx.numpy_helper.to_array(t)
        lines.append(f"initializer {t.name} {onnx.TensorProto.DataType.Name(t.data_type).lower()} "
                     f"[{','.join(str(d) for d in t.dims)}] {a.astype('<f4').tobytes().hex()}")
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    shapes = {v.name: v for v in inferred.graph.value_info}
    outputs = {v.name for v in g.output}
    for n in g.node:
        for o in n.output:
            if o not in outputs:
                v = shapes[o]
                lines.append(f"value {o} {elem(v.type)} {dims(v.type)}")
    return lines


def main():
    for path in sys.argv[1:]:
        try:
            lines = summary(path)
        except Exception as e:  # the checker's and the parser's errors alike
            print(f"{path}: refused: {e}", file=sys.stderr)
            return 1
        print(f"file {path}")
        for line in lines:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
