"""A tiny ONNX "segmentation" model with U²-Net's interface, for rembg sessions in tests.

It predicts foreground = darkness (a steep sigmoid of the negated, normalised channel mean), so
dark objects on a light background are segmented; rembg min-max normalises it into a mask.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def write_tiny_u2net(path: str | Path) -> Path:
    """Write the model to `path` and return it."""
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 320, 320])
    out = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 320, 320])
    nodes = [
        helper.make_node("ReduceMean", ["input.1"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean", "gain"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["mask"]),
    ]
    gain = helper.make_tensor("gain", TensorProto.FLOAT, [1], [-10.0])
    graph = helper.make_graph(nodes, "tiny_u2net", [inp], [out], initializer=[gain])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = Path(path)
    onnx.save(model, str(path))
    return path
