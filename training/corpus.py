"""The training corpus: load every source, mask it, split it without leakage, and fingerprint it."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from teller import cfpb
from teller.io import read_jsonl, write_json, write_jsonl
from teller.masking import MaskCache, Masker, model_view
from teller.settings import get_settings
from teller.taxonomy import HEADS, Taxonomy
from training.data import Example, LoadStats, iter_banking77, iter_cfpb, iter_clinc150_out_of_scope
from training.labels.assignments import apply_zero_shot

SPLITS = ("train", "val", "test")
_SPLIT_SALT = "teller-split-v1"
_WORD_RE = re.compile(r"[a-z]+")


def _shared(rel: str) -> Path:
    return get_settings().shared_data_dir / rel


class DataConfig(BaseModel):
    """Which sources to use and how much of each split to keep."""

    model_config = ConfigDict(extra="forbid")
    cfpb: Path | None = Field(default_factory=lambda: _shared("cfpb/complaints.csv.gz"), description="CFPB export.")
    banking77: Path | None = Field(default_factory=lambda: _shared("banking77/train.csv"), description="Intents.")
    clinc150: Path | None = Field(
        default_factory=lambda: _shared("clinc150/data_train_val.json"), description="Out-of-scope queries."
    )
    corrections: Path | None = Field(
        None,
        description="Agents' corrections in CFPB format (`teller feedback export`): they replace the base labels "
        "of the same text; those that hash to the test split are left out so it stays frozen.",
    )
    val_fraction: float = Field(0.10, gt=0, lt=0.5, description="Share of texts (by hash) for validation.")
    test_fraction: float = Field(0.15, gt=0, lt=0.5, description="Share of texts (by hash) for test.")
    max_chars: int = Field(2000, gt=0, description="Narratives are cut here before masking (the model sees less).")
    cfpb_limits: dict[str, int | None] = Field(
        default_factory=lambda: {"train": None, "val": None, "test": None},
        description="At most this many complaints per split (a deterministic subset), None for all.",
    )
    out_of_scope_limit: int = Field(1500, ge=0, description="Out-of-scope chat queries kept (all splits).")
    zero_shot: Path | None = Field(
        default_factory=lambda: get_settings().data_dir / "labels" / "accepted",
        description="Accepted zero-shot labels (`teller labels accept`): they label train/val rows, never test.",
    )


@dataclass
class Corpus:
    """Masked, labelled, split examples plus the statistics a run logs."""

    splits: dict[str, list[Example]]
    fingerprint: dict
    distributions: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    def save(self, directory: Path) -> None:
        for name, rows in self.splits.items():
            write_jsonl(directory / f"{name}.jsonl", (_row(e) for e in rows))
        write_json(directory / "fingerprint.json", self.fingerprint)
        write_json(directory / "distributions.json", self.distributions)

    @classmethod
    def load(cls, directory: Path) -> Corpus:
        splits = {name: [Example(**r) for r in read_jsonl(directory / f"{name}.jsonl")] for name in SPLITS}
        return cls(
            splits,
            json.loads((directory / "fingerprint.json").read_text()),
            json.loads((directory / "distributions.json").read_text()),
        )


def _row(e: Example) -> dict:
    row = asdict(e)
    row.pop("raw")
    return row


def dedup_key(text: str) -> str:
    """Near-duplicate key: the first 40 lower-case words, ignoring digits, punctuation and redactions."""
    words = [w for w in _WORD_RE.findall(model_view(text).lower()) if w != "redacted" and w.strip("x")]
    return " ".join(words[:40])


def group_digest(text: str, salt: str) -> bytes:
    """A salted hash of the near-duplicate key: near duplicates draw the same bytes, so land in the same group."""
    return hashlib.sha256(f"{salt}:{dedup_key(text)}".encode()).digest()


def split_of(text: str, val_fraction: float, test_fraction: float) -> str:
    """Deterministic split from a hash of the near-duplicate key: duplicates always land together."""
    u = int.from_bytes(group_digest(text, _SPLIT_SALT)[:8], "big") / 2**64
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def _order(text: str) -> bytes:
    return hashlib.sha256(f"order:{text}".encode()).digest()


def build_corpus(config: DataConfig, taxonomy: Taxonomy, cache_path: Path | None = None) -> Corpus:
    """Load, split, subsample, mask and fingerprint the training corpus."""
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    distributions: dict[str, dict[str, Counter]] = {
        "team": {"before": Counter(), "after": Counter()},
        "issue": {"before": Counter(), "after": Counter()},
    }

    def place(examples: Iterable[Example], limits: dict[str, int | None] | None = None) -> None:
        # Split on the raw text's key (XXXX and masked placeholders are ignored by dedup_key).
        bucket: dict[str, list[Example]] = {s: [] for s in SPLITS}
        for e in examples:
            bucket[split_of(e.text, config.val_fraction, config.test_fraction)].append(e)
        for name, rows in bucket.items():
            rows.sort(key=lambda e: _order(e.text))
            limit = (limits or {}).get(name)
            splits[name].extend(rows[:limit] if limit is not None else rows)

    stats: dict[str, LoadStats] = {}
    if config.cfpb:
        stats["cfpb"] = LoadStats()
        complaints = list(iter_cfpb(config.cfpb, taxonomy, stats["cfpb"]))
        for e in complaints:
            distributions["team"]["before"][e.raw[cfpb.PRODUCT].strip()] += 1
            distributions["team"]["after"][e.team] += 1
            distributions["issue"]["before"][e.raw[cfpb.ISSUE].strip() or "(unknown)"] += 1
            distributions["issue"]["after"][e.issue or "(unknown)"] += 1
        corrected = _corrections(config, taxonomy, stats)
        replaced = {dedup_key(e.text) for e in corrected}
        place(corrected)
        place(_dedup(e for e in complaints if dedup_key(e.text) not in replaced), config.cfpb_limits)
    if config.banking77:
        place(_dedup(iter_banking77(config.banking77, taxonomy)))
    if config.clinc150 and config.out_of_scope_limit:
        oos = sorted(_dedup(iter_clinc150_out_of_scope(config.clinc150, taxonomy)), key=lambda e: _order(e.text))
        place(oos[: config.out_of_scope_limit])

    all_rows = [e for rows in splits.values() for e in rows]
    for e in all_rows:
        e.text = e.text[: config.max_chars]
    masked = MaskCache(cache_path).mask_all([e.text for e in all_rows], Masker, processes=os.cpu_count() or 1)
    for e, text in zip(all_rows, masked, strict=True):
        e.text = text
    zero_shot = apply_zero_shot(splits, config.zero_shot, taxonomy)
    fingerprint = corpus_fingerprint(splits)
    fingerprint["loaded"] = {name: asdict(s) for name, s in stats.items()}
    if zero_shot:
        fingerprint["zero_shot"] = zero_shot
    dists = {h: {k: dict(c.most_common()) for k, c in d.items()} for h, d in distributions.items()}
    return Corpus(splits, fingerprint, dists)


def encoder_rows(train: list[Example], complaints: int | None) -> list[Example]:
    """The training rows the encoder fine-tunes on: every chat query and the first `complaints` complaints
    (corrections come first in the split)."""
    if complaints is None:
        return train
    ranks = accumulate(e.source == "cfpb" for e in train)
    return [e for e, rank in zip(train, ranks, strict=True) if e.source != "cfpb" or rank <= complaints]


def _corrections(config: DataConfig, taxonomy: Taxonomy, stats: dict[str, LoadStats]) -> list[Example]:
    """Agents' corrections outside the test split (which stays frozen), newest last wins."""
    if config.corrections is None:
        return []
    stats["corrections"] = LoadStats()
    latest = {dedup_key(e.text): e for e in iter_cfpb(config.corrections, taxonomy, stats["corrections"])}
    kept = [e for e in latest.values() if split_of(e.text, config.val_fraction, config.test_fraction) != "test"]
    stats["corrections"].skipped["test split (frozen)"] = len(latest) - len(kept)
    return kept


def _dedup(examples: Iterable[Example]) -> list[Example]:
    """Drop exact duplicate texts (keeping the first); near duplicates are kept but split together."""
    seen: set[str] = set()
    out = []
    for e in examples:
        key = " ".join(e.text.split())
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def corpus_fingerprint(splits: dict[str, list[Example]]) -> dict:
    """Content hash and counts per split, source and head: logged with every run."""
    digest = hashlib.sha256()
    counts: dict[str, dict] = {}
    for name in SPLITS:
        rows = splits.get(name, [])
        for e in rows:
            digest.update(json.dumps(_row(e), sort_keys=True).encode())
        counts[name] = {
            "rows": len(rows),
            "sources": dict(Counter(e.source for e in rows)),
            "labelled": {h: sum(e.label(h) is not None for e in rows) for h in HEADS},
        }
    return {"sha256": digest.hexdigest(), "counts": counts}
