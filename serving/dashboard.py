"""The model dashboard's numbers, computed from the audit store: traffic per version, labels, confidence, agreement."""

from __future__ import annotations

from collections import Counter

from serving.schemas import Agreement, Dashboard, ModelShare
from teller.store import Allocation, Feedback, ModelStrategy

HEADS = ("team", "issue", "vulnerable")


def summarise(
    recent: list[Allocation], corrections: list[tuple[Feedback, Allocation]], strategy: list[ModelStrategy]
) -> Dashboard:
    """Summarise the newest decisions and every correction; configured versions appear even before any traffic."""
    observed = Counter((a.model_name, a.model_version) for a in recent)
    configured = {(s.model_name, s.model_version): s for s in strategy}
    models = []
    for key in [*configured, *(k for k in observed if k not in configured)]:
        setting = configured.get(key)
        models.append(
            ModelShare(
                model_name=key[0],
                model_version=key[1],
                role=setting.role if setting else None,
                traffic_percent=setting.traffic_percent if setting else None,
                observed_share=round(observed[key] / len(recent), 4) if recent else 0.0,
            )
        )
    confidence = [0] * 10
    for a in recent:
        top = max(a.probabilities.get("team", {}).values(), default=0.0)
        confidence[min(int(top * 10), 9)] += 1
    return Dashboard(
        decisions=len(recent),
        models=models,
        teams=dict(Counter(a.team for a in recent).most_common()),
        issues=dict(Counter(a.issue for a in recent).most_common(10)),
        vulnerable=sum(a.vulnerable for a in recent),
        confidence=confidence,
        agreement=[_agreement(head, corrections) for head in HEADS],
    )


def _agreement(head: str, corrections: list[tuple[Feedback, Allocation]]) -> Agreement:
    given = [(getattr(f, head), getattr(a, head)) for f, a in corrections if getattr(f, head) is not None]
    agreed = sum(agent == model for agent, model in given)
    return Agreement(
        head=head, reviewed=len(given), agreed=agreed, rate=round(agreed / len(given), 4) if given else None
    )
