"""ONNX export, the fused graph, int8 plans and the gate that decides what is served (a tiny random model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from teller.bundle import Bundle, BundleInfo, load_bundle
from teller.classifier import BundleClassifier
from teller.taxonomy import HEADS, load_taxonomy
from training import lifecycle
from training.data import Example
from training.export import (
    QUANT_PLANS,
    QuantPlan,
    export_onnx,
    judge,
    num_attention_heads,
    optimise,
    quantize_int8,
)
from training.metrics import HeadPredictions

WORDS = [
    "card",
    "loan",
    "mortgage",
    "debt",
    "collector",
    "account",
    "fraud",
    "bank",
    "fee",
    "late",
    "payment",
    "credit",
    "report",
    "dispute",
    "transfer",
]


def tiny_draft(directory: Path) -> Bundle:
    """A loadable bundle around a 1-layer random MiniLM-shaped encoder (hidden 64, 2 heads), fp32 only."""
    import torch
    from transformers import AutoTokenizer

    from training.model import MultiTaskModel, encoder_path

    taxonomy = load_taxonomy()
    torch.manual_seed(0)
    model = MultiTaskModel({h: len(taxonomy.labels(h)) for h in HEADS}, encoder="random")
    with torch.no_grad():
        for head in model.heads.values():
            head.weight.mul_(20)  # spread the logits so decisions vary from text to text
    directory.mkdir(parents=True)
    export_onnx(model, directory / "model.onnx")
    AutoTokenizer.from_pretrained(str(encoder_path())).save_pretrained(str(directory / "tokenizer"))
    labels = {h: taxonomy.labels(h) for h in HEADS}
    (directory / "labels.json").write_text(json.dumps({"heads": labels, "issue_teams": taxonomy.issue_teams}))
    info = BundleInfo(
        name="tiny",
        version="1",
        git_commit="unknown",
        created="2026-01-01T00:00:00Z",
        profile="test",
        max_length=32,
        heads=[f"{h}_logits" for h in HEADS],
        thresholds={"vulnerable": 0.5},
        variants={"fp32": "model.onnx", "int8": "model.int8.onnx"},
        default_variant="fp32",
        data_fingerprint="0" * 64,
        taxonomy_version=taxonomy.version,
    )
    (directory / "bundle.json").write_text(info.model_dump_json())
    return Bundle(directory, info, labels)


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 25))) for _ in range(n)]


def labelled_by(bundle: Bundle, rows: list[str]) -> list[Example]:
    """Examples whose labels are fp32's own decisions (fp32 scores 100%); vulnerable cut near its median p(yes)."""
    probs = BundleClassifier(bundle, "fp32").probabilities(rows)
    p_yes = np.sort(probs["vulnerable_logits"][:, 1])
    middle = range(len(p_yes) // 4, 3 * len(p_yes) // 4)
    k = max(middle, key=lambda i: p_yes[i + 1] - p_yes[i])  # cut in a wide gap: no row sits on the threshold
    cut = float(p_yes[k] + p_yes[k + 1]) / 2
    bundle.info.thresholds["vulnerable"] = cut
    names = {h: bundle.labels[h] for h in HEADS}
    return [
        Example(
            text,
            "test",
            team=names["team"][probs["team_logits"][i].argmax()],
            issue=names["issue"][probs["issue_logits"][i].argmax()],
            vulnerable=int(probs["vulnerable_logits"][i, 1] >= cut),
            intent=names["intent"][probs["intent_logits"][i].argmax()],
        )
        for i, text in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Bundle:
    return tiny_draft(tmp_path_factory.mktemp("export") / "draft")


@pytest.fixture
def draft(tiny, tmp_path) -> Bundle:
    """A fresh copy of the tiny bundle a test may change."""
    shutil.copytree(tiny.path, tmp_path / "draft")
    info = BundleInfo.model_validate_json((tmp_path / "draft" / "bundle.json").read_text())
    return Bundle(tmp_path / "draft", info, tiny.labels)


def run(path: Path, ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(path)).run(None, {"input_ids": ids, "attention_mask": mask})


def test_fused_graph_has_one_attention_node_per_layer_and_matches_fp32(draft, tmp_path):
    stats = optimise(draft.onnx_path("fp32"), tmp_path / "opt.onnx")
    ops = [n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node]
    assert stats["Attention"] == ops.count("Attention") == 1
    assert ops.count("BiasGelu") == 1 and "Softmax" not in ops
    assert ops.count("LayerNormalization") == 3 and "SkipLayerNormalization" not in ops  # slower on CPU
    rng = np.random.default_rng(1)
    ids = rng.integers(1000, 5000, (3, 20))
    mask = np.ones_like(ids)
    mask[1, 12:], mask[2, 4:] = 0, 0  # padded rows: the key mask must carry over
    for a, b in zip(run(draft.onnx_path("fp32"), ids, mask), run(tmp_path / "opt.onnx", ids, mask), strict=True):
        assert np.abs(a - b).max() < 1e-4


def test_cpu_sessions_skip_the_fusions_that_slow_them_down(draft, monkeypatch):
    import onnxruntime as ort

    seen = []
    real = ort.InferenceSession

    def spy(*args, **kwargs):
        seen.append((kwargs.get("providers"), kwargs.get("disabled_optimizers")))
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    BundleClassifier(draft, "fp32", providers=["CPUExecutionProvider"])
    assert seen == [(["CPUExecutionProvider"], ["SkipLayerNormFusion"])]


def test_attention_heads_come_from_the_export_or_the_graph(draft):
    model = onnx.load(str(draft.onnx_path("fp32")))
    assert num_attention_heads(model) == 2
    del model.metadata_props[:]  # bundles exported before the count was recorded
    assert num_attention_heads(model) == 2


@pytest.mark.parametrize("name", list(QUANT_PLANS))
def test_every_int8_plan_quantises_the_encoder_and_keeps_the_heads_fp32(draft, tmp_path, name):
    plan = QUANT_PLANS[name]
    optimise(draft.onnx_path("fp32"), tmp_path / "opt.onnx")
    source = tmp_path / "opt.onnx" if plan.graph == "opt" else draft.onnx_path("fp32")
    quantize_int8(source, tmp_path / "int8.onnx", plan)
    graph = onnx.load(str(tmp_path / "int8.onnx")).graph
    ops = [n.op_type for n in graph.node]
    # The task heads stay fp32 (quantize_dynamic turns their Gemm into a float MatMul on the pooled vector).
    head_weights = {i.name: i.data_type for i in graph.initializer if i.name.startswith("heads.")}
    assert len(head_weights) == 2 * len(HEADS) and set(head_weights.values()) == {onnx.TensorProto.FLOAT}
    assert {"MatMulInteger", "DynamicQuantizeMatMul", "QAttention"} & set(ops)
    assert ("QAttention" in ops) == (plan.graph == "opt" and "qkv" not in plan.keep_fp32)
    rng = np.random.default_rng(2)
    ids = rng.integers(1000, 5000, (2, 16))
    out = run(tmp_path / "int8.onnx", ids, np.ones_like(ids))
    assert all(np.isfinite(o).all() for o in out)


def predictions(labels: list[int], preds: list[int], threshold: float | None = None) -> HeadPredictions:
    """HeadPredictions whose decisions are `preds` (one-hot probabilities; binary heads thresholded at 0.5)."""
    classes = max(max(labels), max(preds)) + 1
    probs = np.eye(max(classes, 2))[preds]
    return HeadPredictions("h", [str(c) for c in range(probs.shape[1])], np.array(labels), probs, threshold)


def test_judge_passes_a_faithful_candidate_and_names_what_a_bad_one_breaks():
    y = [i % 5 for i in range(200)]
    fp32 = predictions(y, [v if i % 4 else (v + 1) % 5 for i, v in enumerate(y)])  # 75% accurate
    same = judge({"team": fp32}, {"team": fp32}, 0.97, 0.005)
    assert same["passed"] and same["min_label_agreement"] == 1.0 and same["heads"]["team"]["drop"] == 0

    # Two more rows wrong out of 200 (1 point): refused on accuracy even though 99% of decisions agree.
    worse = fp32.y_pred.copy()
    worse[[1, 2]] = (worse[[1, 2]] + 1) % 5
    verdict = judge({"team": fp32}, {"team": predictions(y, list(worse))}, 0.97, 0.005)
    assert not verdict["passed"] and verdict["failures"] == ["team accuracy 1.00 points below fp32"]

    # Eight wrong rows moved to other wrong labels: accuracy unchanged, but 96% agreement is refused.
    moved = fp32.y_pred.copy()
    wrong = np.flatnonzero(moved != np.array(y))[:8]
    moved[wrong] = (np.array(y)[wrong] + 2) % 5
    verdict = judge({"team": fp32}, {"team": predictions(y, list(moved))}, 0.97, 0.005)
    assert verdict["heads"]["team"]["drop"] == 0 and verdict["heads"]["team"]["label_agreement"] == 0.96
    assert not verdict["passed"] and "agree with fp32 on 96.00%" in verdict["failures"][0]

    # One gained row is fine; a tolerance of a whole point lets the 1-point loss through.
    better = fp32.y_pred.copy()
    better[0] = y[0]
    assert judge({"team": fp32}, {"team": predictions(y, list(better))}, 0.97, 0.005)["passed"]
    assert judge({"team": fp32}, {"team": predictions(y, list(worse))}, 0.97, 0.01)["passed"]


def test_judge_gates_the_vulnerable_head_on_recall_not_accuracy():
    y = [1] * 40 + [0] * 160
    fp32 = predictions(y, [1] * 36 + [0] * 4 + [0] * 160, threshold=0.5)  # recall 0.90
    # Missing one more vulnerable customer (-2.5 points of recall) is refused although accuracy drops only 0.5.
    missed = predictions(y, [1] * 35 + [0] * 5 + [0] * 160, threshold=0.5)
    verdict = judge({"vulnerable": fp32}, {"vulnerable": missed}, 0.97, 0.005)
    assert verdict["heads"]["vulnerable"]["metric"] == "recall"
    assert not verdict["passed"] and verdict["failures"] == ["vulnerable recall 2.50 points below fp32"]
    # Flagging two more non-vulnerable customers costs precision, not recall: passes.
    extra = predictions(y, [1] * 36 + [0] * 4 + [1] * 2 + [0] * 158, threshold=0.5)
    assert judge({"vulnerable": fp32}, {"vulnerable": extra}, 0.97, 0.005)["passed"]


NOISY = QuantPlan("fp32", weight_type="QUInt8")  # marks the plan the fake quantiser breaks
FAITHFUL = QuantPlan("fp32")


def fake_quantiser(source: Path, out: Path, plan: QuantPlan) -> Path:
    """Copy the fp32 graph; for NOISY, replace the task heads' weights with noise (a broken quantisation)."""
    model = onnx.load(str(source))
    if plan == NOISY:
        rng = np.random.default_rng(3)
        gemm_weights = {n.input[1] for n in model.graph.node if n.op_type == "Gemm"}
        for init in model.graph.initializer:
            if init.name in gemm_weights:
                noisy = rng.standard_normal(numpy_helper.to_array(init).shape).astype(np.float32) * 5
                init.CopyFrom(numpy_helper.from_array(noisy, init.name))
    onnx.save(model, str(out))
    return out


def gate(draft: Bundle, monkeypatch, plans: dict[str, QuantPlan], rates: dict[str, float] | None = None) -> dict:
    """The gate over fake plans; `rates`: what timing a lone complaint per variant finds (int8 faster unless told)."""
    timed: list[tuple[str, ...]] = []

    def fake_rates(bundle: Bundle, variants: tuple[str, ...], texts: list[str]) -> dict[str, float]:
        timed.append(variants)
        assert bundle is draft and texts
        return rates or {"int8": 200.0, "opt": 100.0}

    monkeypatch.setattr(lifecycle, "QUANT_PLANS", plans)
    monkeypatch.setattr(lifecycle, "quantize_int8", fake_quantiser)
    monkeypatch.setattr(lifecycle, "call_rates", fake_rates)
    rows = labelled_by(draft, texts(120))
    report, logits = lifecycle.gate_int8(draft, rows[:80], rows[80:], load_taxonomy())
    assert set(logits) == {"fp32", report["test"]["variant"]}  # what the test metrics reuse
    assert timed == ([("int8", "opt")] if report["plan"] else [])  # timed only when a plan passed
    return report


def test_gate_refuses_a_broken_plan_and_serves_the_next_faithful_one(draft, monkeypatch):
    report = gate(draft, monkeypatch, {"broken": NOISY, "faithful": FAITHFUL})
    broken = report["validation"]["broken"]
    assert not broken["passed"] and broken["min_label_agreement"] < 0.9
    assert report["validation"]["faithful"]["passed"] and report["validation"]["opt"]["passed"]
    assert report["plan"] == "faithful" and report["variant"] == "int8"
    assert draft.info.variants == {"fp32": "model.onnx", "int8": "model.int8.onnx", "opt": "model.opt.onnx"}
    assert sorted(p.name for p in draft.path.glob("*.onnx")) == ["model.int8.onnx", "model.onnx", "model.opt.onnx"]
    assert report["test"]["variant"] == "int8" and report["test"]["passed"]


def test_gate_serves_the_fused_fp32_graph_where_it_answers_a_lone_complaint_faster_than_the_passing_plan(
    draft, monkeypatch
):
    report = gate(draft, monkeypatch, {"faithful": FAITHFUL}, rates={"int8": 40.0, "opt": 55.0})
    assert report["plan"] == "faithful" and report["variant"] == "opt"
    assert report["call_texts_per_s"] == {"int8": 40.0, "opt": 55.0}
    # The plan's file is kept (it passed), but the test split is judged on what is served.
    assert (draft.path / "model.int8.onnx").exists() and report["test"]["variant"] == "opt"


def test_call_rates_time_each_variant_as_served(draft):
    draft.info.variants["int8"] = quantize_int8(draft.onnx_path("fp32"), draft.path / "model.int8.onnx").name
    rates = lifecycle.call_rates(draft, ("fp32", "int8"), texts(6), rounds=1)
    assert set(rates) == {"fp32", "int8"} and all(r > 0 for r in rates.values())


def test_gate_falls_back_to_the_fused_fp32_graph_when_every_int8_plan_is_broken(draft, monkeypatch):
    report = gate(draft, monkeypatch, {"broken": NOISY})
    assert report["plan"] is None and report["variant"] == "opt"
    assert report["validation"]["opt"]["min_label_agreement"] == 1.0
    # The broken file stays in the bundle for inspection but is not what the bundle serves.
    assert (draft.path / "model.int8.onnx").exists() and report["test"]["variant"] == "opt"


def test_a_gated_bundle_loads_and_serves_its_chosen_variant(draft, monkeypatch):
    report = gate(draft, monkeypatch, {"faithful": FAITHFUL})
    draft.info.default_variant = report["variant"]
    (draft.path / "bundle.json").write_text(draft.info.model_dump_json())
    bundle = load_bundle(draft.path)
    served = BundleClassifier(bundle).probabilities(texts(5, seed=9))
    reference = BundleClassifier(bundle, "fp32").probabilities(texts(5, seed=9))
    assert bundle.info.default_variant == "int8"
    for head in reference:
        assert np.allclose(served[head], reference[head], atol=1e-5)
