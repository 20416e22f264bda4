"""Accepted zero-shot assignments: where `teller labels accept` writes them and how a training run reads them.

Each file in var/labels/accepted/ is JSON lines {label, head, key, score}, `key` the SHA-256 of the masked text.
`training.corpus.build_corpus` calls `apply_zero_shot`: matching train and val rows take the label (never test,
which stays frozen), and the corpus fingerprint lists every label applied under "zero_shot".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from teller.errors import DataError
from teller.io import read_jsonl, write_jsonl
from teller.settings import get_settings
from teller.taxonomy import Taxonomy
from training.data import Example

HEAD_SOURCES = {"issue": ("cfpb",), "topic": ("banking77", "clinc150")}
RELABELLED_SPLITS = ("train", "val")


def accepted_dir() -> Path:
    """var/labels/accepted: the directory the next training run reads."""
    return get_settings().data_dir / "labels" / "accepted"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_assignments(path: Path, label: str, head: str, texts: list[str], scores: list[float]) -> None:
    """Write one label's accepted assignments (replacing an earlier acceptance of it)."""
    rows = ({"label": label, "head": head, "key": text_key(t), "score": s} for t, s in zip(texts, scores, strict=True))
    write_jsonl(path, rows)


def _applies(e: Example, label: str, head: str, taxonomy: Taxonomy) -> bool:
    if e.source not in HEAD_SOURCES[head]:
        return False
    return head == "topic" or label in taxonomy.issue_teams.get(e.team or "", [])


def apply_zero_shot(splits: dict[str, list[Example]], directory: Path | None, taxonomy: Taxonomy) -> dict:
    """Label the train/val rows named in accepted assignment files; return what was applied, per label."""
    if directory is None or not Path(directory).is_dir():
        return {}
    applied: dict[str, dict] = {}
    for path in sorted(Path(directory).glob("*.jsonl")):
        rows = read_jsonl(path)
        if not rows:
            continue
        label, head = rows[0]["label"], rows[0]["head"]
        known = taxonomy.issue_labels if head == "issue" else taxonomy.intent_labels
        if head not in HEAD_SOURCES or label not in known:
            raise DataError(
                f"zero-shot {head} label {label!r} is not in the taxonomy",
                str(path),
                "accept it again with `teller labels accept`, or delete the file",
            )
        keys = {r["key"] for r in rows}
        counts = {}
        for split in RELABELLED_SPLITS:
            hits = [e for e in splits.get(split, []) if text_key(e.text) in keys and _applies(e, label, head, taxonomy)]
            for e in hits:
                if head == "issue":
                    e.issue = label
                else:
                    e.intent = label
            counts[split] = len(hits)
        applied[label] = {
            "head": head,
            "labelled_by": "zero-shot",
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "assigned": len(keys),
            "applied": counts,
        }
    return applied
