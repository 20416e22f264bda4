"""`teller labels accept`: add a proposed label to the taxonomy and hand its assignments to the next training run."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from teller.errors import DataError, TellerError
from teller.io import atomic_path
from teller.taxonomy import TAXONOMY_PATH, CustomLabel, Taxonomy, load_taxonomy
from training.labels.assignments import accepted_dir, write_assignments
from training.labels.propose import REVIEW_COLUMNS, report_dir, slug

MARKER = "# Labels added by `teller labels accept` (teller/taxonomy.py folds them into issues and topics)."
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0", ""}


def read_review(path: Path) -> list[dict]:
    """The (possibly analyst-edited) review rows whose `proposed` column says yes."""
    if not path.is_file():
        raise DataError("no review file", str(path), "run `teller labels propose NAME ...` first")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REVIEW_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"missing column(s) {missing}", f"{path}, row 1", "keep the columns propose wrote")
        chosen = []
        for row_no, row in enumerate(reader, start=2):
            verdict = (row["proposed"] or "").strip().lower()
            if verdict not in YES | NO:
                raise DataError(f"proposed is {row['proposed']!r}", f"{path}, row {row_no}", "write yes or no")
            if verdict in YES:
                chosen.append(row)
    return chosen


def pick_teams(rows: list[dict], teams: list[str] | None, min_share: float) -> list[str]:
    """The given teams, else every team with at least `min_share` of the accepted complaints."""
    if teams:
        return teams
    counts = Counter(r["team"] for r in rows if r["team"])
    picked = sorted(t for t, n in counts.items() if n >= min_share * max(sum(counts.values()), 1))
    if not picked:
        raise TellerError("no team carries the accepted complaints", "review.csv, column team", "pass --team TEAM")
    return picked


def with_custom_label(text: str, name: str, label: CustomLabel, where: str) -> str:
    """The taxonomy YAML text with `name` set in its trailing `custom_labels:` block (comments elsewhere kept)."""
    data = yaml.safe_load(text) or {}
    unused = {"handoff"} if label.head == "issue" else {"teams"}
    custom = {**(data.get("custom_labels") or {}), name: label.model_dump(exclude_none=True, exclude=unused)}
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("custom_labels:")), None)
    if start is not None:
        if any(line.strip() and not line[0].isspace() and not line.startswith("#") for line in lines[start + 1 :]):
            raise TellerError("custom_labels is not the last section", where, "move the custom_labels block to the end")
        start -= 1 if start and lines[start - 1].strip() == MARKER else 0
        lines = lines[:start]
    block = yaml.safe_dump({"custom_labels": custom}, sort_keys=False, allow_unicode=True, width=110)
    return "".join(lines).rstrip("\n") + f"\n\n{MARKER}\n{block}"


def accept(
    name: str, taxonomy_path: Path = TAXONOMY_PATH, teams: list[str] | None = None, min_team_share: float = 0.05
) -> dict:
    """Write the label into the taxonomy (validated) and its accepted rows where the next training run reads them."""
    directory = report_dir(name)
    summary_path = directory / "summary.json"
    if not summary_path.is_file():
        raise DataError(f"no proposal for {name!r}", str(summary_path), f"run `teller labels propose {name!r} ...`")
    summary = json.loads(summary_path.read_text())
    rows = read_review(directory / "review.csv")
    if not rows:
        raise TellerError("no row is proposed", str(directory / "review.csv"), "mark rows yes, or propose again")
    head = summary["head"]
    label = CustomLabel(
        head=head,
        description=summary["description"],
        examples=summary["examples"],
        teams=pick_teams(rows, teams, min_team_share) if head == "issue" else [],
        threshold=summary["threshold"]["value"],
        accepted=datetime.now(UTC).date().isoformat(),
    )
    text = with_custom_label(taxonomy_path.read_text(), name, label, str(taxonomy_path))
    try:
        Taxonomy.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise TellerError(f"the taxonomy would not validate: {exc}", str(taxonomy_path), "fix the label") from None
    with atomic_path(taxonomy_path) as tmp:
        tmp.write_text(text)
    load_taxonomy.cache_clear()
    out = accepted_dir() / f"{slug(name)}.jsonl"
    write_assignments(out, name, head, [r["text"] for r in rows], [float(r["score"]) for r in rows])
    return {
        "label": name,
        "head": head,
        "taxonomy": str(taxonomy_path),
        "assignments": str(out),
        "rows": len(rows),
        "teams": label.teams,
    }
