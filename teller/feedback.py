"""Agents' corrections → a CFPB-format CSV that `teller train` reads, closing the retraining loop."""

from __future__ import annotations

import csv
from pathlib import Path

from teller import cfpb
from teller.io import atomic_path
from teller.store import Store
from teller.taxonomy import load_taxonomy

COLUMNS = cfpb.EXPORT_COLUMNS


def export_feedback(store: Store, path: Path) -> int:
    """Write one row per corrected complaint (its latest correction over the model's decision); returns rows."""
    taxonomy = load_taxonomy()
    latest = {complaint.id: row for row in store.corrections() for complaint in row[:1]}
    with atomic_path(Path(path)) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for complaint, feedback, decision in latest.values():
            team = feedback.team or decision.team
            vulnerable = decision.vulnerable if feedback.vulnerable is None else feedback.vulnerable
            writer.writerow(
                {
                    cfpb.COMPLAINT_ID: complaint.id,
                    cfpb.DATE_RECEIVED: feedback.created_at.date().isoformat(),
                    cfpb.PRODUCT: taxonomy.teams[team].products[0],
                    cfpb.ISSUE: feedback.issue or decision.issue,
                    cfpb.NARRATIVE: complaint.narrative,
                    cfpb.TAGS: taxonomy.vulnerable_tags[0] if vulnerable else "",
                    cfpb.TAGS_RECORDED: "Yes",
                }
            )
    return len(latest)
