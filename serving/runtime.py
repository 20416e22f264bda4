"""Plain serving classes: the classifier runtime (triage and chat intent) and the bundle it loads.

Framework shells (Ray Serve, KServe, SageMaker) wrap these; nothing here knows about HTTP or Ray.
"""

from __future__ import annotations

import logging
import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from teller.bundle import Bundle
from teller.bundle import resolve_bundle as resolve_bundle  # the one resolver; servers import it from here
from teller.classifier import BundleClassifier
from teller.decision import decide, vulnerable_threshold
from teller.taxonomy import load_taxonomy

log = logging.getLogger(__name__)

_ASKS_FOR_HUMAN = re.compile(
    r"\b(speak|talk|chat)\s+(to|with)\s+(a\s+)?(human|person|agent|someone|representative|advisor)\b"
    r"|\b(real|live)\s+(person|agent|human)\b|\bhuman\s+agent\b",
    re.IGNORECASE,
)


class Decision(BaseModel):
    """The model's triage of one complaint."""

    model_config = ConfigDict(extra="forbid")
    team: str
    issue: str
    vulnerable: bool
    queue: str = Field(description="specialist-vulnerable for vulnerable customers, else the team's queue.")
    probabilities: dict[str, dict[str, float]] = Field(description="Per head: label -> probability (top 5).")
    model_name: str
    model_version: str


class Intent(BaseModel):
    """The chat classifier's reading of one message."""

    model_config = ConfigDict(extra="forbid")
    intent: str
    topic: str
    confidence: float
    handoff_topic: bool = Field(description="The topic always goes to a human (e.g. security and fraud).")
    asks_for_human: bool


class Classifier:
    """One ONNX session over a bundle, read two ways: complaint triage and chat intent."""

    def __init__(self, bundle: Bundle, threads: int | None = None, gpu: bool = False, spin: bool = False) -> None:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]
        self.bundle = bundle
        self.runtime = BundleClassifier(bundle, threads=threads, providers=providers, spin=spin)
        self.taxonomy = load_taxonomy()
        self.threshold = vulnerable_threshold(bundle.info.thresholds)

    @property
    def version(self) -> str:
        return self.bundle.info.version

    def _probabilities(self, texts: list[str]) -> dict[str, np.ndarray]:
        return {h.removesuffix("_logits"): p for h, p in self.runtime.probabilities(texts).items()}

    def triage(self, texts: list[str]) -> list[Decision]:
        """Team, issue and vulnerable flag for masked narratives (the rule in `teller.decision`)."""
        probs = self._probabilities(texts)
        labels = self.bundle.labels
        return [
            Decision(
                team=d.team,
                issue=d.issue,
                vulnerable=d.vulnerable,
                queue=d.queue,
                probabilities={h: _top(labels[h], probs[h][i]) for h in ("team", "issue", "vulnerable")},
                model_name=self.bundle.info.name,
                model_version=self.version,
            )
            for i, d in enumerate(decide(probs, labels, self.threshold))
        ]

    def intents(self, texts: list[str]) -> list[Intent]:
        """Intent, topic and confidence for masked chat messages."""
        probs = self._probabilities(texts)["intent"]
        labels = self.bundle.labels["intent"]
        out = []
        for text, row in zip(texts, probs, strict=True):
            intent = labels[int(np.argmax(row))]
            topic = self.taxonomy.topic_for_intent(intent)
            out.append(
                Intent(
                    intent=intent,
                    topic=topic,
                    confidence=round(float(row.max()), 4),
                    handoff_topic=self.taxonomy.is_handoff_topic(topic),
                    asks_for_human=bool(_ASKS_FOR_HUMAN.search(text)),
                )
            )
        return out


class Attribution(BaseModel):
    """How much each word of a masked text moved one head's decision (occlusion: drop in probability)."""

    model_config = ConfigDict(extra="forbid")
    method: str = "occlusion"
    head: str
    label: str
    probability: float
    tokens: list[str]
    weights: list[float] = Field(description="p(label | text) - p(label | text without the word); > 0 supports.")


def occlusion(classifier: Classifier, text: str, head: str = "team", max_words: int = 256) -> Attribution:
    """Remove each word in turn (one batched ONNX run) and record the drop in the predicted label's probability."""
    if head not in classifier.bundle.labels:
        raise ValueError(f"unknown head {head!r}; use one of {sorted(classifier.bundle.labels)}")
    words = text.split()[:max_words]
    variants = [" ".join(words)] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
    probs = classifier._probabilities(variants)[head]
    best = int(np.argmax(probs[0]))
    return Attribution(
        head=head,
        label=classifier.bundle.labels[head][best],
        probability=round(float(probs[0, best]), 4),
        tokens=words,
        weights=[round(float(probs[0, best] - p), 4) for p in probs[1:, best]],
    )


def _top(labels: list[str], row: np.ndarray, k: int = 5) -> dict[str, float]:
    return {labels[i]: round(float(row[i]), 4) for i in np.argsort(-row)[:k]}
