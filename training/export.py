"""Export a trained model to ONNX, quantise it to int8, and check both agree with torch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import torch

from teller.taxonomy import HEADS
from training.model import MultiTaskModel

log = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = tuple(f"{h}_logits" for h in HEADS)


def export_onnx(model: MultiTaskModel, path: Path, opset: int = 18) -> Path:
    """Export with dynamic batch and sequence axes; heads become outputs `<head>_logits`."""
    model = model.to("cpu").eval()
    ids = torch.randint(1000, 2000, (2, 16))
    mask = torch.ones_like(ids)
    batch, seq = torch.export.Dim("batch", min=1), torch.export.Dim("sequence", min=1, max=512)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            opset_version=opset,
            dynamo=True,
            verbose=False,
            external_data=False,
        )
    onnx.checker.check_model(str(path))
    return path


# Quantisation plans, fastest first: which encoder MatMuls stay fp32. FFN outputs follow GELU, whose
# outliers make per-tensor activation quantisation lossy, so they are the first to be kept in fp32.
QUANT_PLANS: dict[str, frozenset[str]] = {
    "all": frozenset(),
    "keep_ffn_out": frozenset({"ffn_out"}),
    "attention_only": frozenset({"ffn_in", "ffn_out"}),
}


def _weight_matmuls(graph: onnx.GraphProto) -> dict[str, str]:
    """Name -> role ('attention', 'ffn_in', 'ffn_out') of every MatMul with a weight initializer."""
    shapes = {i.name: tuple(i.dims) for i in graph.initializer}
    roles = {}
    for node in graph.node:
        dims = next((shapes[i] for i in node.input if i in shapes), None)
        if node.op_type == "MatMul" and dims and len(dims) == 2:
            rows, cols = dims
            roles[node.name] = "attention" if rows == cols else "ffn_in" if cols > rows else "ffn_out"
    return roles


def quantize_int8(fp32_path: Path, int8_path: Path, plan: str = "all") -> Path:
    """Dynamic int8 quantisation (per-channel weights) of the encoder MatMuls the plan allows.

    The task heads export as Gemm nodes and always stay fp32.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    roles = _weight_matmuls(graph)
    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=[name for name, role in roles.items() if role in QUANT_PLANS[plan]],
        extra_options={"MatMulConstBOnly": True},
    )
    return int8_path


def parity(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict:
    """Max absolute logit difference and argmax agreement per head, and their worst case."""
    out = {}
    for head, ref in reference.items():
        cand = candidate[head]
        out[head] = {
            "max_abs_diff": float(np.abs(ref - cand).max()) if ref.size else 0.0,
            "label_agreement": float((ref.argmax(-1) == cand.argmax(-1)).mean()) if ref.size else 1.0,
        }
    out["min_label_agreement"] = min(v["label_agreement"] for v in out.values())
    out["max_abs_diff"] = max(v["max_abs_diff"] for k, v in out.items() if isinstance(v, dict))
    return out
