"""The texts a label is scored on: the saved (masked) training corpus, or a labelled file masked here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from teller.errors import DataError, TellerError
from teller.masking import MaskCache
from teller.settings import get_settings
from teller.taxonomy import Taxonomy
from training.corpus import SPLITS, Corpus, DataConfig
from training.data import Example, detect_format, iter_labelled
from training.labels.assignments import HEAD_SOURCES

HEADS = HEAD_SOURCES
UNKNOWN = "(unknown)"


@dataclass
class LabelRow:
    """One masked text with its current label (what the report counts) and fine label (for rival centroids)."""

    text: str
    split: str
    label: str
    fine: str | None
    team: str | None


def check_head(head: str) -> None:
    """Fail clearly on a head labels cannot be added to."""
    if head not in HEADS:
        raise TellerError(f"unknown head {head!r}", "--head", f"use one of {sorted(HEADS)}")


def latest_corpus() -> Path:
    """The newest saved corpus directory (var/corpus/<hash>), written by `teller train`."""
    root = get_settings().data_dir / "corpus"
    saved = sorted(root.glob("*/fingerprint.json"), key=lambda p: p.stat().st_mtime)
    if not saved:
        raise DataError("no saved corpus", str(root), "run `teller train` first, or pass --data FILE")
    return saved[-1].parent


def _row(e: Example, split: str, head: str, taxonomy: Taxonomy) -> LabelRow:
    if head == "issue":
        return LabelRow(e.text, split, e.issue or UNKNOWN, e.issue, e.team)
    topic = taxonomy.topic_for_intent(e.intent) if e.intent else UNKNOWN
    return LabelRow(e.text, split, topic, e.intent, None)


def corpus_rows(head: str, directory: Path, taxonomy: Taxonomy) -> tuple[list[LabelRow], str]:
    """Rows of every split whose source feeds `head`, and the corpus fingerprint."""
    check_head(head)
    if not (directory / "fingerprint.json").is_file():
        raise DataError("not a saved corpus (no fingerprint.json)", str(directory), "pass a var/corpus/<hash> dir")
    corpus = Corpus.load(directory)
    rows = [_row(e, s, head, taxonomy) for s in SPLITS for e in corpus.splits[s] if e.source in HEADS[head]]
    if not rows:
        raise DataError(f"no {'/'.join(HEADS[head])} rows for head {head!r}", str(directory), "use another head")
    return rows, corpus.fingerprint["sha256"]


def file_rows(head: str, path: Path, taxonomy: Taxonomy) -> list[LabelRow]:
    """Rows of a CFPB export (head issue) or a text,category CSV (head topic), cut and masked as training does."""
    check_head(head)
    kind = detect_format(path)
    if (kind == "cfpb") != (head == "issue"):
        want = "a CFPB export" if head == "issue" else "a text,category CSV"
        raise DataError(f"a {kind} file cannot be scored for head {head!r}", str(path), f"give {want}")
    examples = list(iter_labelled(path, taxonomy))
    if not examples:
        raise DataError("no rows", str(path), "give a file with at least one labelled text")
    cut = DataConfig.model_fields["max_chars"].default
    masked = MaskCache().mask_all([e.text[:cut] for e in examples])
    for e, text in zip(examples, masked, strict=True):
        e.text = text
    return [_row(e, "file", head, taxonomy) for e in examples]
