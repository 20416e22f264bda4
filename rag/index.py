"""Build and load the knowledge-base index: entries, passages, a FAISS store and a manifest, on disk.

Layout of a KB directory: `entries.jsonl` (one KBEntry per line), `faiss/` (LangChain FAISS store of
passage vectors; metadata points back to entries) and `manifest.json` (version = content hash, embedder,
counts, sources, the calibrated abstention threshold). A build writes to a temporary sibling and renames
it into place, so a failed build leaves the previous KB untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rag.embeddings import EMBEDDER_NAME, OnnxEmbeddings, SentenceEncoder, copy_encoder, export_encoder, kb_embeddings
from rag.entries import KBEntry, chunk, normalise
from rag.loaders import load_source
from teller.errors import TellerError
from teller.io import atomic_path, read_jsonl, write_json, write_jsonl
from teller.masking import MaskCache
from teller.settings import KBSource

log = logging.getLogger(__name__)

MASKED_SOURCES = ("transcripts", "faq")  # customer- or bank-written text that may carry PII
NEAR_DUPLICATE = 0.95  # cosine above which two questions (and their first passages) are one entry
DEFAULT_THRESHOLD = 0.45  # relevance threshold when a KB cannot be calibrated
URL_SLOT = "<LINK>"
_URL = re.compile(r"https?://\S+")


class Manifest(BaseModel):
    """What a KB directory holds and how it was made."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(description="sha256 of the entries' content and the embedder: the KB version.")
    embedder: str
    entries: int
    passages: int
    merged_duplicates: int
    sources: list[dict] = Field(description="Each source file, its loader and how many entries it gave.")
    built_at: str
    abstain_threshold: float = Field(description="Relevance below which answers hand off to a human.")
    calibration: dict = Field(default_factory=dict, description="How the threshold was chosen.")

    @classmethod
    def read(cls, kb_dir: Path) -> Manifest:
        """The manifest of a built KB directory, without loading its index."""
        path = Path(kb_dir) / "manifest.json"
        if not path.is_file():
            raise TellerError("no knowledge base here", str(kb_dir), "build one with `teller kb build`")
        return cls.model_validate_json(path.read_text())


@dataclass(frozen=True)
class Passage:
    """One indexed text: an entry's question alone, or its question plus one chunk of its answer."""

    entry_id: str
    kind: str  # "question" | "passage"
    text: str  # what is embedded
    chunk: str  # the answer text it carries (empty for a question)


def passages_for(entry: KBEntry, max_words: int = 120) -> list[Passage]:
    """Index texts for an entry: its question, and each answer chunk prefixed by the question."""
    out = [Passage(entry.id, "question", entry.title, "")]
    out += [Passage(entry.id, "passage", f"{entry.title}\n{c}", c) for c in chunk(entry.text, max_words)]
    return out


def mask_entries(entries: list[KBEntry], cache: MaskCache | None = None) -> list[KBEntry]:
    """Entries with transcript and FAQ titles and texts PII-masked (cached by raw text)."""
    todo = [e for e in entries if e.source in MASKED_SOURCES]
    if not todo:
        return entries
    raw = [t for e in todo for t in (e.title, e.text)]
    urls = [_URL.findall(t) for t in raw]
    # Links are the citation, not PII: keep them out of Presidio (it reads archive timestamps as account numbers).
    masked = (cache or MaskCache()).mask_all([_URL.sub(URL_SLOT, t) for t in raw], desc="masking KB")
    masked = [_restore(text, found) for text, found in zip(masked, urls, strict=True)]
    replaced = {e.id: (masked[2 * i], masked[2 * i + 1]) for i, e in enumerate(todo)}
    return [
        e.model_copy(update={"title": replaced[e.id][0], "text": replaced[e.id][1]}) if e.id in replaced else e
        for e in entries
    ]


def _restore(text: str, urls: list[str]) -> str:
    for url in urls:
        text = text.replace(URL_SLOT, url, 1)
    return text


def merge_exact(entries: list[KBEntry]) -> list[KBEntry]:
    """Merge entries with the same id or the same normalised question and answer; the first one stays."""
    kept: dict[str, KBEntry] = {}
    by_id: dict[str, str] = {}
    for e in entries:
        key = normalise(e.title) + "|" + normalise(e.text)
        first = kept.get(key) or (kept.get(by_id[e.id]) if e.id in by_id else None)
        if first is None:
            kept[key] = e.model_copy(update={"aliases": list(e.aliases)})
            by_id[e.id] = key
        elif e.id not in first.ids:
            first.aliases.append(e.id)
    return list(kept.values())


def merge_near(entries: list[KBEntry], question_vecs: np.ndarray, answer_vecs: np.ndarray) -> list[int]:
    """Indices of entries to keep after folding near-duplicates (question and first passage) into the first."""
    sims = (question_vecs @ question_vecs.T) * (answer_vecs @ answer_vecs.T > NEAR_DUPLICATE)
    keep: list[int] = []
    owner: dict[int, int] = {}
    for i in range(len(entries)):
        if i in owner:
            continue
        keep.append(i)
        for j in np.flatnonzero(sims[i, i + 1 :] > NEAR_DUPLICATE) + i + 1:
            if int(j) not in owner:
                owner[int(j)] = i
                entries[i].aliases.extend(entries[int(j)].ids)
    return keep


def content_version(entries: list[KBEntry]) -> str:
    digest = hashlib.sha256(EMBEDDER_NAME.encode())
    for e in sorted(entries, key=lambda e: e.id):
        digest.update(json.dumps([e.id, e.title, e.text, e.url, e.aliases]).encode())
    return digest.hexdigest()[:16]


def build_kb(
    sources: list[KBSource],
    out_dir: Path,
    embeddings: SentenceEncoder | None = None,
    calibrate: Callable[[Path], tuple[float, dict] | None] | None = None,
    mask_cache: MaskCache | None = None,
) -> Manifest:
    """Load, mask, merge, chunk, embed and index `sources` into `out_dir`; optionally calibrate abstention."""
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    loaded = [load_source(s) for s in sources]
    raw = [e for _, _, rows in loaded for e in rows]
    entries = merge_exact(mask_entries(raw, mask_cache))
    embeddings = embeddings or OnnxEmbeddings(export_encoder(), progress=True)
    passages = [p for e in entries for p in passages_for(e)]
    vectors = embeddings.encode([p.text for p in passages], desc="embedding KB")
    first = {}
    for i, p in enumerate(passages):
        first.setdefault((p.entry_id, p.kind), i)
    order = [e.id for e in entries]
    question_vecs = vectors[[first[(eid, "question")] for eid in order]]
    answer_vecs = vectors[[first.get((eid, "passage"), first[(eid, "question")]) for eid in order]]
    keep = merge_near(entries, question_vecs, answer_vecs)
    kept_ids = {entries[i].id for i in keep}
    entries = [entries[i] for i in keep]
    rows = [i for i, p in enumerate(passages) if p.entry_id in kept_ids]

    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        store = FAISS.from_embeddings(
            [(passages[i].text, vectors[i].tolist()) for i in rows],
            embeddings,
            metadatas=[
                {"entry_id": passages[i].entry_id, "kind": passages[i].kind, "chunk": passages[i].chunk} for i in rows
            ],
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
        store.save_local(str(tmp / "faiss"))
        copy_encoder(tmp)
        write_jsonl(tmp / "entries.jsonl", (e.model_dump() for e in entries))
        manifest = Manifest(
            version=content_version(entries),
            embedder=EMBEDDER_NAME,
            entries=len(entries),
            passages=len(rows),
            merged_duplicates=len(raw) - len(entries),
            sources=[{"path": str(path), "loader": name, "entries": len(rows)} for path, name, rows in loaded],
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            abstain_threshold=DEFAULT_THRESHOLD,
        )
        write_json(tmp / "manifest.json", manifest.model_dump())
        fitted = calibrate(tmp) if calibrate is not None else None
        if fitted is not None:
            threshold, stats = fitted
            manifest = manifest.model_copy(update={"abstain_threshold": threshold, "calibration": stats})
            write_json(tmp / "manifest.json", manifest.model_dump())
    return manifest


class KnowledgeBase:
    """A built KB loaded for querying: entries by id, passages with vectors, and the manifest."""

    def __init__(self, path: Path, embeddings: SentenceEncoder | None = None) -> None:
        from langchain_community.vectorstores import FAISS

        self.path = Path(path)
        self.manifest = Manifest.read(self.path)
        self.entries = {e["id"]: KBEntry.model_validate(e) for e in read_jsonl(self.path / "entries.jsonl")}
        self.embeddings = embeddings or kb_embeddings(self.path)
        # The docstore is a pickle: only load KB directories this installation built.
        self.store = FAISS.load_local(str(self.path / "faiss"), self.embeddings, allow_dangerous_deserialization=True)
        ids, n = self.store.index_to_docstore_id, self.store.index.ntotal
        self.documents = [self.store.docstore.search(ids[i]) for i in range(n)]
        self.vectors = self.store.index.reconstruct_n(0, n)
        self.rows: dict[str, list[int]] = {}
        for i, doc in enumerate(self.documents):
            self.rows.setdefault(doc.metadata["entry_id"], []).append(i)

    @property
    def version(self) -> str:
        return self.manifest.version
