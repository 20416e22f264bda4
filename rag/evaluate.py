"""Retrieval and abstention evaluation, and calibration of the abstention threshold.

A question set is JSONL: `{"question", "expected_ids": [...]}` (an id is qualified, `ask_cfpb:55`, or the
source's bare id, `55`) or `{"question", "expected": "none"}` for questions the KB must not answer.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rag.chain import Answerer
from rag.index import KnowledgeBase
from rag.retrieval import Searcher
from teller.errors import DataError

EVALSETS = Path(__file__).resolve().parent / "evalsets"
EVAL_SET = EVALSETS / "eval.jsonl"
CALIBRATION_SET = EVALSETS / "calibration.jsonl"


class EvalQuestion(BaseModel):
    """One evaluation question: the entries that answer it, or `expected: none` if it must be handed off."""

    model_config = ConfigDict(extra="ignore")
    question: str = Field(min_length=1)
    expected_ids: list[str | int] | None = Field(None, description="Ids of entries that answer it (55 or ask_cfpb:55).")
    expected: Literal["none"] | None = None

    @model_validator(mode="after")
    def _one_expectation(self) -> EvalQuestion:
        if bool(self.expected_ids) == (self.expected == "none"):
            raise ValueError('give either a non-empty "expected_ids" list or "expected": "none"')
        self.expected_ids = [str(i) for i in self.expected_ids or []]
        return self

    @property
    def must_abstain(self) -> bool:
        return self.expected == "none"


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a question set; a bad line is a DataError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError("question file not found", str(path), "pass a JSONL file to --questions")
    out: list[EvalQuestion] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(EvalQuestion.model_validate_json(line))
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise DataError(
                f"bad question ({problem['msg']})",
                f"{path} line {n}",
                'each line: {"question": "...", "expected_ids": ["ask_cfpb:55"]} or {"question": "...", '
                '"expected": "none"}',
            ) from exc
    if not out:
        raise DataError("no questions", str(path), "add at least one JSON line")
    return out


def matches(expected: str, ids: list[str]) -> bool:
    """Whether an expected id (qualified or bare) names one of an entry's ids."""
    return any(expected == i or expected == i.split(":", 1)[-1] for i in ids)


def rank_of(question: EvalQuestion, retrieved: list[list[str]]) -> int | None:
    """1-based rank of the first retrieved entry that answers the question."""
    for r, ids in enumerate(retrieved, start=1):
        if any(matches(e, ids) for e in question.expected_ids or ()):
            return r
    return None


def evaluate(answerer: Answerer, questions: list[EvalQuestion], outcomes: Counter | None = None) -> dict:
    """hit@1, hit@3 and MRR on answerable questions; abstention precision/recall; end-to-end latency.

    `outcomes`, if given, counts who answered and why (e.g. `local`, `extractive/generated_answer_unsupported`).
    """
    ranks, abstained, must, latency = [], [], [], []
    for q in questions:
        start = time.perf_counter()
        answer = answerer.answer(q.question)
        latency.append((time.perf_counter() - start) * 1000)
        if outcomes is not None:
            outcomes["handoff" if answer.handoff else "/".join(filter(None, (answer.answerer, answer.reason)))] += 1
        abstained.append(answer.handoff)
        must.append(q.must_abstain)
        if not q.must_abstain:
            ranks.append(rank_of(q, [answerer.kb.entries[i].ids for i in answer.retrieved]))
    abstained_a, must_a = np.array(abstained), np.array(must)
    return {
        "n": len(questions),
        "hit_at_1": _mean([r == 1 for r in ranks]),
        "hit_at_3": _mean([r is not None and r <= 3 for r in ranks]),
        "mrr": _mean([1.0 / r if r else 0.0 for r in ranks]),
        "abstain_precision": _mean(must_a[abstained_a]),
        "abstain_recall": _mean(abstained_a[must_a]),
        "false_abstain_rate": _mean(abstained_a[~must_a]),
        "latency_ms": {
            "p50": round(float(np.percentile(latency, 50)), 1),
            "p95": round(float(np.percentile(latency, 95)), 1),
        },
    }


def compare_encoders(kb_dir: Path, questions: list[EvalQuestion], rounds: int = 3) -> dict[str, dict]:
    """Answer latency with the torch encoder (what a user would run) beside the KB's own ONNX encoder.

    One process, same questions, interleaved rounds; also whether both retrieve the same entries.
    """
    from rag.embeddings import MiniLMEmbeddings

    engines = {"torch": KnowledgeBase(kb_dir, MiniLMEmbeddings()), "kb_onnx": KnowledgeBase(kb_dir)}
    latency: dict[str, list[float]] = {name: [] for name in engines}
    retrieved: dict[str, list[list[str]]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, kb in engines.items():
            answerer = Answerer(kb)  # a fresh answer cache every round
            answerer.answer("How do I order a new debit card?")  # warm-up
            for q in questions:
                start = time.perf_counter()
                retrieved[name].append(answerer.answer(q.question).retrieved)
                latency[name].append((time.perf_counter() - start) * 1000)
    same = np.mean([a == b for a, b in zip(retrieved["torch"], retrieved["kb_onnx"], strict=True)])
    stats = {name: {f"p{q}": round(float(np.percentile(v, q)), 1) for q in (50, 95)} for name, v in latency.items()}
    for name, v in latency.items():
        stats[name]["mean"] = round(float(np.mean(v)), 1)
        stats[name]["x_mean"] = round(float(np.mean(latency["torch"]) / np.mean(v)), 2)
        stats[name]["same_retrieval"] = round(float(same), 4)
    return stats


def choose_threshold(answerable: np.ndarray, unanswerable: np.ndarray) -> tuple[float, dict]:
    """The relevance cut that best separates the two groups (max recall - false-abstain rate, mid-plateau)."""
    values = np.unique(np.concatenate([answerable, unanswerable]))
    cuts = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values
    gain = np.array([np.mean(unanswerable < c) - np.mean(answerable < c) for c in cuts])
    best = cuts[np.flatnonzero(gain == gain.max())]
    threshold = float(np.median(best))
    return round(threshold, 4), {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "abstain_recall": _mean(unanswerable < threshold),
        "false_abstain_rate": _mean(answerable < threshold),
    }


def calibrate(kb: KnowledgeBase, questions: list[EvalQuestion], min_each: int = 20) -> tuple[float, dict] | None:
    """Fit the abstention threshold on a calibration set; None if it has too few usable questions for this KB."""
    searcher = Searcher(kb, "dense")
    known = [i for e in kb.entries.values() for i in e.ids]
    answerable = [q for q in questions if not q.must_abstain and any(matches(e, known) for e in q.expected_ids)]
    unanswerable = [q for q in questions if q.must_abstain]
    if len(answerable) < min_each or len(unanswerable) < min_each:
        return None

    def relevance(group: list[EvalQuestion]) -> np.ndarray:
        return np.array([searcher.search(q.question, k=1).relevance for q in group])

    return choose_threshold(relevance(answerable), relevance(unanswerable))


def _mean(values) -> float | None:
    values = np.asarray(values, dtype=float)
    return round(float(values.mean()), 4) if values.size else None
