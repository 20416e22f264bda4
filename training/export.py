"""Export a trained model to ONNX, fuse it for ONNX Runtime, quantise it to int8, and check they agree with fp32."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from teller.taxonomy import HEADS
from training.metrics import HeadPredictions

log = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = tuple(f"{h}_logits" for h in HEADS)
OPTIMISED_FILE = "model.opt.onnx"
INT8_FILE = "model.int8.onnx"
_HEADS_KEY = "num_attention_heads"


def export_onnx(model, path: Path, opset: int = 18) -> Path:
    """Export with dynamic batch and sequence axes; heads become outputs `<head>_logits`."""
    import torch

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
    proto = onnx.load(str(path))
    helper.set_model_props(proto, {_HEADS_KEY: str(model.encoder.config.num_attention_heads)})
    onnx.save(proto, str(path))
    onnx.checker.check_model(str(path))
    return path


# --- ONNX Runtime transformer fusions ------------------------------------------------------------------


class _Graph:
    """Producer/consumer/constant lookups over one ONNX graph."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.inits = {i.name: i for i in graph.initializer}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of an initializer or Constant node output, else None."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is None or node.op_type != "Constant":
            return None
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        return numpy_helper.to_array(value) if value is not None else None

    def made_by(self, names: list[str], op: str) -> onnx.NodeProto | None:
        """The first node of type `op` producing one of `names`."""
        return next((n for i in names if (n := self.producer.get(i)) is not None and n.op_type == op), None)


def _projection(g: _Graph, name: str, scales: list[float]) -> tuple[str, np.ndarray, np.ndarray] | None:
    """Walk back from a Q/K/V tensor through Mul/Transpose/Reshape to `X @ W + b`; collects Mul scales."""
    node = g.producer.get(name)
    while node is not None and node.op_type in ("Mul", "Transpose", "Reshape"):
        if node.op_type == "Mul":
            scale = g.constant(node.input[1])
            if scale is None or scale.size != 1:
                return None
            scales.append(float(scale))
        node = g.producer.get(node.input[0])
    if node is None or node.op_type != "Add":
        return None
    bias_at = next((i for i, x in enumerate(node.input) if g.constant(x) is not None), None)
    matmul = g.producer.get(node.input[1 - bias_at]) if bias_at is not None else None
    if matmul is None or matmul.op_type != "MatMul" or g.constant(matmul.input[1]) is None:
        return None
    return matmul.input[0], g.constant(matmul.input[1]), g.constant(node.input[bias_at])


def _consumer(g: _Graph, name: str, op: str, through: tuple[str, ...] = ()) -> onnx.NodeProto | None:
    """The first consumer of `name` of type `op`, looking through nodes of the `through` types."""
    for node in g.consumers.get(name, []):
        if node.op_type == op:
            return node
        if node.op_type in through:
            found = _consumer(g, node.output[0], op, through)
            if found is not None:
                return found
    return None


@dataclass
class _Attention:
    """One matched self-attention block: its input, packed weights and the tensor it must produce."""

    x: str
    weight: np.ndarray
    bias: np.ndarray
    scale: float
    output: str


def _match_attention(g: _Graph, softmax: onnx.NodeProto) -> _Attention | None:
    """Match softmax(Q K^T * s + mask) V -> transpose -> reshape, with Q, K, V linear projections of one input.

    The additive mask is taken to be BERT's key padding mask; the fused graph's parity test and the gate check it.
    """
    scores = g.made_by([softmax.input[0]], "Add")
    qk = g.made_by(list(scores.input), "MatMul") if scores is not None else None
    context = _consumer(g, softmax.output[0], "MatMul", through=("IsNaN", "Where", "Cast"))
    if qk is None or context is None:
        return None
    scales: list[float] = []
    q, k = _projection(g, qk.input[0], scales), _projection(g, qk.input[1], scales)
    v = _projection(g, context.input[1], [])
    transpose = _consumer(g, context.output[0], "Transpose")
    reshape = _consumer(g, transpose.output[0], "Reshape") if transpose is not None else None
    if not (q and k and v and reshape) or not q[0] == k[0] == v[0]:
        return None
    scale = float(np.prod(scales)) if scales else 1.0
    weight = np.concatenate([q[1], k[1], v[1]], axis=1)
    return _Attention(q[0], weight, np.concatenate([q[2], k[2], v[2]]), scale, reshape.output[0])


def _live_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes that contribute to a graph output, in their original order."""
    nodes = list(graph.node)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    needed: set[int] = set()
    stack = [o.name for o in graph.output]
    while stack:
        index = producer.get(stack.pop())
        if index is not None and index not in needed:
            needed.add(index)
            stack.extend(i for i in nodes[index].input if i)
    return [n for i, n in enumerate(nodes) if i in needed]


def _prune(graph: onnx.GraphProto) -> None:
    """Drop dead nodes and unused initializers."""
    _set_nodes(graph, _live_nodes(graph))
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    kept = [copy.deepcopy(i) for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _set_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    """Replace the graph's nodes (copied first: clearing a repeated field invalidates the old messages)."""
    nodes = [copy.deepcopy(n) for n in nodes]
    del graph.node[:]
    graph.node.extend(nodes)


def fuse_attention(model: onnx.ModelProto, num_heads: int) -> int:
    """Replace each matched self-attention block by one com.microsoft Attention node (packed QKV, 2-D key mask).

    Returns how many blocks were fused; unmatched blocks are left as they are.
    """
    g = _Graph(model.graph)
    matches = [m for s in model.graph.node if s.op_type == "Softmax" and (m := _match_attention(g, s))]
    if not matches:
        return 0
    mask = "attention_mask_int32"
    new = [helper.make_node("Cast", ["attention_mask"], [mask], name="AttentionMaskInt32", to=onnx.TensorProto.INT32)]
    for i, m in enumerate(matches):
        w, b = f"attention_{i}_qkv_weight", f"attention_{i}_qkv_bias"
        model.graph.initializer.extend([numpy_helper.from_array(m.weight, w), numpy_helper.from_array(m.bias, b)])
        new.append(
            helper.make_node(
                "Attention",
                [m.x, w, b, mask],
                [m.output],
                name=f"Attention_{i}",
                domain="com.microsoft",
                num_heads=num_heads,
                scale=m.scale,
            )
        )
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    replaced = {m.output for m in matches}
    _set_nodes(model.graph, new + [n for n in model.graph.node if not set(n.output) & replaced])
    _topological_sort(model.graph)
    _prune(model.graph)
    return len(matches)


def _topological_sort(graph: onnx.GraphProto) -> None:
    """Order nodes so every input is produced before it is read."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"graph has a cycle or a missing input at {rest[0].name}")
        pending = rest
    _set_nodes(graph, ordered)


def num_attention_heads(model: onnx.ModelProto) -> int:
    """Attention heads recorded at export, else read from the first Q reshape (hidden / head size)."""
    props = {p.key: p.value for p in model.metadata_props}
    if _HEADS_KEY in props:
        return int(props[_HEADS_KEY])
    g = _Graph(model.graph)
    for node in model.graph.node:
        if node.op_type == "Reshape" and (concat := g.producer.get(node.input[1])) is not None:
            sizes = [g.constant(i) for i in concat.input] if concat.op_type == "Concat" else []
            head_size = sizes[-1] if sizes and sizes[-1] is not None else None
            weight = _projection(g, node.input[0], [])
            if head_size is not None and weight is not None and int(head_size.item()) > 0:
                return weight[1].shape[1] // int(head_size.item())
    raise ValueError("cannot tell the number of attention heads; re-export the model")


def optimise(fp32_path: Path, out_path: Path) -> dict[str, int]:
    """ONNX Runtime's BERT fusions (BiasGelu) plus fused multi-head Attention; fp32 throughout.

    Residual adds stay separate from their LayerNormalization (faster on CPU, see `teller.classifier`).
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    model = onnx.load(str(fp32_path))
    heads = num_attention_heads(model)
    hidden = next(i for i in model.graph.initializer if i.name.endswith("LayerNorm.weight")).dims[0]
    options = FusionOptions("bert")
    # Residual adds stay apart from LayerNormalization: see teller.classifier.SLOW_CPU_FUSIONS.
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False
    optimiser = optimize_model(
        str(fp32_path), "bert", num_heads=heads, hidden_size=hidden, optimization_options=options, opt_level=0
    )
    stats = {k: v for k, v in optimiser.get_fused_operator_statistics().items() if v}
    fused = optimiser.model
    stats["Attention"] = fuse_attention(fused, heads)
    helper.set_model_props(fused, {_HEADS_KEY: str(heads)})
    onnx.save(fused, str(out_path))
    onnx.checker.check_model(str(out_path))
    return stats


# --- int8 ---------------------------------------------------------------------------------------------


def cpu_flags() -> dict[str, bool]:
    """The x86 features that decide which int8 kernels ONNX Runtime can use here (Linux; all False elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = set(next((line for line in text.splitlines() if line.startswith("flags")), "").split())
    return {f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")}


def has_vnni() -> bool:
    """Whether u8 x s8 dot products accumulate in int32 without saturating (VNNI), so full-range weights are safe."""
    flags = cpu_flags()
    return flags["avx512_vnni"] or flags["avx_vnni"] or flags["amx_int8"]


@dataclass(frozen=True)
class QuantPlan:
    """How to quantise: the graph to start from, the encoder roles kept fp32, and the int8 scheme."""

    graph: str = "fp32"  # "fp32" as exported, or "opt" (fused, see `optimise`)
    keep_fp32: frozenset[str] = frozenset()  # roles: "qkv" (fused Attention), "attention_out", "ffn_in", "ffn_out"
    reduce_range: bool | None = None  # 7-bit weights; None: only on CPUs without VNNI, where u8 x s8 pairs saturate
    weight_type: str = "QInt8"  # QInt8 (u8 x s8 kernels) or QUInt8 (u8 x u8)


# Fastest first (measured with `teller bench`). Per-channel int8 weights, dynamic per-tensor u8 activations;
# task heads (Gemm), embeddings, LayerNorm, Softmax and GELU always stay fp32. FFN outputs follow GELU, whose
# outliers make per-tensor activation scales coarse, so they are the first thing kept in fp32. ONNX Runtime's
# quantised fused attention (QAttention) always uses 7-bit weights.
QUANT_PLANS: dict[str, QuantPlan] = {
    "opt_all": QuantPlan("opt"),
    "all": QuantPlan("fp32"),
    "opt_keep_ffn_out": QuantPlan("opt", frozenset({"ffn_out"})),
    "keep_ffn_out": QuantPlan("fp32", frozenset({"ffn_out"})),
    "opt_attention_only": QuantPlan("opt", frozenset({"ffn_in", "ffn_out"})),
    "attention_only": QuantPlan("fp32", frozenset({"ffn_in", "ffn_out"})),
}


def weight_roles(graph: onnx.GraphProto) -> dict[str, str]:
    """Name -> role of every encoder node with a weight: fused 'qkv' Attention, else MatMuls by weight shape."""
    shapes = {i.name: tuple(i.dims) for i in graph.initializer}
    roles = {}
    for node in graph.node:
        dims = next((shapes[i] for i in node.input[1:2] if i in shapes), None)
        if node.op_type == "Attention":
            roles[node.name] = "qkv"
        elif node.op_type == "MatMul" and dims and len(dims) == 2:
            rows, cols = dims
            roles[node.name] = "attention_out" if rows == cols else "ffn_in" if cols > rows else "ffn_out"
    return roles


class _DropAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_int8(source: Path, int8_path: Path, plan: QuantPlan | str = "all") -> Path:
    """Dynamic int8 quantisation (per-channel weights) of the encoder nodes the plan allows.

    `source` is the graph the plan names (the fp32 export or the optimised one). Only the encoder nodes are listed
    for quantisation: `quantize_dynamic` rewrites every Gemm (the task heads) as a MatMul and would quantise it too.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    plan = QUANT_PLANS[plan] if isinstance(plan, str) else plan
    roles = weight_roles(onnx.load(str(source), load_external_data=False).graph)
    advice = _DropAdvice()
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(source),
            str(int8_path),
            weight_type=getattr(QuantType, plan.weight_type),
            per_channel=True,
            reduce_range=not has_vnni() if plan.reduce_range is None else plan.reduce_range,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_quantize=[name for name, role in roles.items() if role not in plan.keep_fp32],
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        logging.getLogger().removeFilter(advice)
    return int8_path


# --- the gate ------------------------------------------------------------------------------------------


def _metric(p: HeadPredictions) -> tuple[str, float]:
    """The number a head is gated on: recall for a thresholded (binary, safety) head, else accuracy."""
    y, pred = p.y_true, p.y_pred
    if p.threshold is not None:
        positives = y == 1
        return "recall", float(pred[positives].mean()) if positives.any() else 1.0
    return "accuracy", float((pred == y).mean()) if len(y) else 1.0


def judge(
    reference: dict[str, HeadPredictions], candidate: dict[str, HeadPredictions], min_agreement: float, max_drop: float
) -> dict:
    """Compare a candidate's served decisions with fp32's on the same labelled rows.

    Passes when no head's accuracy (recall for the thresholded vulnerable head) drops by more than `max_drop`
    and every head's decisions agree with fp32's on at least `min_agreement` of rows.
    """
    heads, failures = {}, []
    for head, ref in reference.items():
        cand = candidate[head]
        name, before = _metric(ref)
        after = _metric(cand)[1]
        agreement = float((ref.y_pred == cand.y_pred).mean()) if len(ref.y_true) else 1.0
        heads[head] = {"metric": name, "fp32": before, "candidate": after, "drop": before - after}
        heads[head] |= {"label_agreement": agreement, "rows": len(ref.y_true)}
        if before - after > max_drop + 1e-9:
            failures.append(f"{head} {name} {100 * (before - after):.2f} points below fp32")
        if agreement < min_agreement:
            failures.append(f"{head} decisions agree with fp32 on {100 * agreement:.2f}% of rows")
    worst = min((h["label_agreement"] for h in heads.values()), default=1.0)
    return {"passed": not failures, "failures": failures, "min_label_agreement": worst, "heads": heads}


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
