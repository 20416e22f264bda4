"""REPORT.md and its plots from synthetic predictions of the team, issue, vulnerable and intent heads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.metrics import HeadPredictions, head_metrics
from training.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLANTED = "PLANTED top error | with a pipe\nand a newline"


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _multiclass(head: str, labels: list[str], n: int, seed: int, texts: bool = True) -> HeadPredictions:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(labels), n)
    logits = rng.normal(size=(n, len(labels)))
    logits[np.arange(n), y] += 2.0
    text = [f"{head} complaint number {i} about something" for i in range(n)] if texts else None
    return HeadPredictions(head, labels, y, _softmax(logits), texts=text)


def _vulnerable(n: int = 150, seed: int = 3) -> HeadPredictions:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    pos = 1 / (1 + np.exp(-(rng.normal(size=n) + 2.0 * y - 1.0)))
    texts = [f"vulnerable text {i}" for i in range(n)]
    return HeadPredictions("vulnerable", ["no", "yes"], y, np.column_stack([1 - pos, pos]), 0.3, texts)


def _heads() -> dict[str, HeadPredictions]:
    team = _multiclass("team", ["cards", "mortgages", "loans", "deposits", "payments"], 200, 1)
    team.y_true[0], team.probs[0] = 0, np.array([0.0005, 0.999, 0.0002, 0.0002, 0.0001])
    team.texts[0] = PLANTED
    issue_labels = [f"Issue {i}: problem with a purchase shown on your statement, part {i}" for i in range(48)]
    issue = _multiclass("issue", issue_labels, 300, 2)
    return {"team": team, "issue": issue, "vulnerable": _vulnerable()}


def _assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 2000, path


def _error_confidences(report: str, head: str) -> list[tuple[str, float]]:
    section = report.split(f"## Head: {head}", 1)[1].split("## Head:", 1)[0]
    errors = section.split("### Most confident errors", 1)[1]
    rows = [line for line in errors.splitlines() if line.startswith("| ") and line[2].isdigit()]
    return [(row, float(row.rstrip(" |").rsplit("|", 1)[1])) for row in rows]


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    preds = _heads()
    metrics = {h: head_metrics(p) for h, p in preds.items()}
    majority = {
        h: head_metrics(HeadPredictions(h, p.labels, p.y_true, np.eye(len(p.labels))[np.zeros(len(p.y_true), int)]))
        for h, p in preds.items()
        if h != "vulnerable"
    }
    raw = {f"Raw CFPB product string number {i}, with a rather long description": 10 + i for i in range(30)}
    distributions = {"team": {"before": raw, "after": {"cards": 120, "mortgages": 80, "loans": 60}}}
    out = tmp_path_factory.mktemp("report") / "nested"
    return write_report(out, "Synthetic eval", metrics, preds, {"majority": majority}, distributions, top_errors=10)


def test_report_mentions_heads_and_embeds_pngs(full_report: Path) -> None:
    assert full_report.name == "REPORT.md" and full_report.is_file()
    text = full_report.read_text()
    assert text.startswith("# Synthetic eval")
    for head in ("team", "issue", "vulnerable"):
        assert f"## Head: {head}" in text
    names = [
        "baselines.png",
        "confidence.png",
        "reliability.png",
        "distribution_team.png",
        "pr_vulnerable.png",
    ]
    names += [f"{kind}_{h}.png" for kind in ("confusion", "per_class") for h in ("team", "issue", "vulnerable")]
    for name in names:
        _assert_png(full_report.parent / name)
        assert f"]({name})" in text
    assert "ECE" in text and "pr_auc" in text and "majority" in text
    assert not list(full_report.parent.glob(".*.tmp"))


def test_most_confident_errors_sorted_and_escaped(full_report: Path) -> None:
    text = full_report.read_text()
    for head in ("team", "issue", "vulnerable"):
        rows = _error_confidences(text, head)
        confs = [c for _, c in rows]
        assert 0 < len(rows) <= 10 and confs == sorted(confs, reverse=True)
    first = _error_confidences(text, "team")[0][0]
    assert "PLANTED top error \\| with a pipe ↵ and a newline" in first and "0.999" in first


def test_intent_only(tmp_path: Path) -> None:
    intent = _multiclass("intent", [f"intent_{i}" for i in range(78)], 400, 4, texts=False)
    path = write_report(tmp_path, "Banking77", {"intent": head_metrics(intent)}, {"intent": intent})
    text = path.read_text()
    assert "## Head: intent" in text and "Most confident errors" not in text and "Baselines" not in text
    for name in ("confusion_intent.png", "per_class_intent.png", "confidence.png", "reliability.png"):
        _assert_png(tmp_path / name)
    assert not (tmp_path / "baselines.png").exists()


def test_single_class_and_empty_heads(tmp_path: Path) -> None:
    vul = _vulnerable(40)
    vul.y_true[:] = 0
    empty = HeadPredictions("team", ["a", "b"], np.zeros(0, int), np.zeros((0, 2)), texts=[])
    path = write_report(
        tmp_path,
        "Edge",
        {"vulnerable": head_metrics(vul), "team": {"n": 0}},
        {"vulnerable": vul, "team": empty},
    )
    text = path.read_text()
    assert "No predictions for this head." in text
    _assert_png(tmp_path / "confusion_vulnerable.png")
    assert not (tmp_path / "pr_vulnerable.png").exists()
