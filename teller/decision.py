"""The triage decision rule: team and issue by argmax, vulnerable when p(yes) reaches the bundle's threshold.

Pure numpy, so batch scoring and serving read a bundle's probabilities the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

SPECIALIST_QUEUE = "specialist-vulnerable"
TRIAGE_HEADS = ("team", "issue", "vulnerable")


@dataclass(frozen=True)
class Triage:
    """One complaint's decision and how sure the model was of each part of it."""

    team: str
    issue: str
    vulnerable: bool
    queue: str
    team_confidence: float
    issue_confidence: float
    vulnerable_probability: float


def vulnerable_threshold(thresholds: Mapping[str, float]) -> float:
    """The bundle's p(yes) cut-off for the vulnerable flag (0.5 when it sets none)."""
    return thresholds.get("vulnerable", 0.5)


def decide(probs: Mapping[str, np.ndarray], labels: Mapping[str, list[str]], threshold: float) -> list[Triage]:
    """Decisions for rows of per-head probabilities (keys `team` or `team_logits`, ...), in row order."""
    by_head = {h.removesuffix("_logits"): np.asarray(p) for h, p in probs.items()}
    missing = [h for h in TRIAGE_HEADS if h not in by_head]
    if missing:
        raise ValueError(f"probabilities lack head(s) {missing}")
    team, issue = by_head["team"].argmax(axis=1), by_head["issue"].argmax(axis=1)
    p_yes = by_head["vulnerable"][:, labels["vulnerable"].index("yes")]
    out = []
    for i in range(len(team)):
        name, vulnerable = labels["team"][int(team[i])], bool(p_yes[i] >= threshold)
        out.append(
            Triage(
                team=name,
                issue=labels["issue"][int(issue[i])],
                vulnerable=vulnerable,
                queue=SPECIALIST_QUEUE if vulnerable else name,
                team_confidence=float(by_head["team"][i, team[i]]),
                issue_confidence=float(by_head["issue"][i, issue[i]]),
                vulnerable_probability=float(p_yes[i]),
            )
        )
    return out
