"""The label reports the dashboard shows, read from what `teller labels propose` and `discover` wrote."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import ValidationError

from serving.schemas import Discovery, LabelCount, LabelProposal, LabelReports

log = logging.getLogger(__name__)
TOP_LABELS = 12
UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError)


def read_label_reports(directory: Path, accepted: set[str]) -> LabelReports:
    """Every proposal under `directory` (newest first) and the latest discovery; a broken file is named, not fatal."""
    proposals, unreadable = [], []
    for path in sorted(directory.glob("*/summary.json")):
        try:
            proposals.append(proposal(json.loads(path.read_text(encoding="utf-8")), accepted))
        except UNREADABLE as exc:
            log.warning("label report %s unreadable: %s", path, exc)
            unreadable.append(f"{path.parent.name}/{path.name}")
    discovery, path = None, directory / "discover.json"
    if path.is_file():
        try:
            discovery = _discovery(json.loads(path.read_text(encoding="utf-8")))
        except UNREADABLE as exc:
            log.warning("discovery report %s unreadable: %s", path, exc)
            unreadable.append(path.name)
    proposals.sort(key=lambda p: p.created, reverse=True)
    return LabelReports(proposals=proposals, discovery=discovery, unreadable=unreadable)


def proposal(summary: dict, accepted: set[str]) -> LabelProposal:
    """The dashboard's view of one summary.json: the largest labels (and the new one) before and after."""
    name, before, after = summary["name"], summary["distribution"]["before"], summary["distribution"]["after"]
    largest = sorted(set(before) | set(after), key=lambda k: -max(before.get(k, 0), after.get(k, 0)))
    shown = [name, *(k for k in largest if k != name)][:TOP_LABELS]
    threshold, histogram = summary["threshold"], summary["confidence"].get("histogram", {})
    return LabelProposal(
        name=name,
        head=summary["head"],
        description=summary["description"],
        created=summary["created"],
        rows=summary["rows"],
        proposed=summary["proposed"],
        threshold=threshold["value"],
        expected_precision=threshold.get("expected_precision"),
        expected_recall=threshold.get("expected_recall"),
        accepted=name in accepted,
        distribution=[LabelCount(label=k, before=before.get(k, 0), after=after.get(k, 0)) for k in shown],
        confidence_before=histogram.get("before", []),
        confidence_after=histogram.get("after", []),
    )


def _discovery(report: dict) -> Discovery:
    fields = ("created", "head", "scored", "uncertain", "max_confidence")
    clusters = [{k: v for k, v in c.items() if k != "old_labels"} for c in report["clusters"]]
    return Discovery(**{k: report[k] for k in fields}, model_version=report["bundle"]["version"], clusters=clusters)
