"""Knowledge-base loaders: one per source format, all yielding raw (unmasked) `KBEntry` records.

Formats: Ask CFPB (the JSONL or the CSV export; approved rows only), customer-care transcripts in the
Twitter customer-care JSON format, and plain FAQ CSVs with `Question,Answer[,Class]` columns.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from rag.entries import KBEntry, normalise
from teller.errors import DataError
from teller.settings import KBSource, get_settings

ASK_CFPB_DATE = "2017-05"  # the export's content date
_HANDLE = re.compile(r"(?<![\w@])@\w{1,15}")
_SIGNATURE = re.compile(r"\s*[\^*~-]\s?[A-Z][A-Za-z]{0,15}\s*$")  # agent sign-offs: ^AF, *SR, -Richard
_SPACE = re.compile(r"\s+")


class Loader:
    """Reads one file format into KB entries; `load` raises DataError naming the file and row."""

    name: ClassVar[str]

    def __init__(self, licence: str | None = None) -> None:
        self.licence = licence

    def load(self, path: Path) -> Iterator[KBEntry]:
        raise NotImplementedError

    @classmethod
    def sniff(cls, path: Path, head: str) -> bool:
        """Whether a file starting with `head` is in this loader's format."""
        raise NotImplementedError


class AskCfpbLoader(Loader):
    """Ask CFPB answers (JSONL with unescaped text, or the raw CSV export); approved rows only."""

    name = "ask_cfpb"

    @classmethod
    def sniff(cls, path: Path, head: str) -> bool:
        return '"ask_id"' in head or head.startswith("ASK_ID,")

    def load(self, path: Path) -> Iterator[KBEntry]:
        rows = _read_jsonl(path) if path.suffix == ".jsonl" else _read_ask_csv(path)
        for where, row in rows:
            try:
                if str(row["status"]).upper() != "APPROVED":
                    continue
                ask_id = int(row["ask_id"])
                question, answer = _clean(row["question"]), _clean(row["answer"])
                short = _clean(row.get("short_answer") or "")
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(
                    f"not an Ask CFPB row ({exc!r})", where, "use the ask_cfpb.jsonl or ask.csv export"
                ) from exc
            if not question or not answer:
                continue
            text = answer if not short or short in answer else f"{short}\n\n{answer}"
            yield KBEntry(
                id=f"{self.name}:{ask_id}",
                source=self.name,
                title=question,
                text=text,
                topic=row.get("topic") or None,
                url=ask_cfpb_url(question, ask_id),
                date=ASK_CFPB_DATE,
                licence=self.licence,
            )


class TranscriptLoader(Loader):
    """Customer-care threads: the customer's turns are the question, the agent's linking reply the answer."""

    name = "transcripts"

    @classmethod
    def sniff(cls, path: Path, head: str) -> bool:
        return '"dialogContent"' in head or '"agentURL"' in head

    def load(self, path: Path) -> Iterator[KBEntry]:
        try:
            threads = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"not valid JSON ({exc})", str(path), "export the threads as one JSON list") from exc
        if not isinstance(threads, list):
            raise DataError("expected a JSON list of conversation threads", str(path))
        for i, thread in enumerate(threads):
            where = f"{path} thread {i}"
            try:
                header, link = thread["dialogHeader"], thread["agentURL"]
                asked = [_tweet(t["message"]) for t in thread["dialogContent"] if "client" in t]
                answer = _tweet(link["url_utterance"])
                session = str(header["sessionID"])
            except (KeyError, TypeError) as exc:
                raise DataError(f"not a customer-care thread ({exc!r} missing)", where) from exc
            question = " ".join(a for a in asked if a)
            if not question or not answer:
                continue
            yield KBEntry(
                id=f"{self.name}:{session}",
                source=self.name,
                title=question,
                text=answer,
                topic=header.get("company"),
                url=link.get("url") or None,
                date=(header.get("conversationDateTime") or "")[:10] or None,
                licence=self.licence,
            )


class FaqLoader(Loader):
    """A CSV of `Question,Answer[,Class]`; ids are a hash of the question so they survive re-ordering."""

    name = "faq"

    @classmethod
    def sniff(cls, path: Path, head: str) -> bool:
        first = head.splitlines()[0].lower() if head else ""
        return first.startswith("question,answer")

    def load(self, path: Path) -> Iterator[KBEntry]:
        with _open(path) as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "question" not in fields or "answer" not in fields:
                raise DataError(
                    f"columns {reader.fieldnames} lack Question and Answer",
                    str(path),
                    "use a Question,Answer[,Class] CSV",
                )
            for row in reader:
                row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
                question, answer = _clean(row["question"]), _clean(row["answer"])
                if not question or not answer:
                    continue
                digest = hashlib.sha256(normalise(question).encode()).hexdigest()[:12]
                yield KBEntry(
                    id=f"{self.name}:{digest}",
                    source=self.name,
                    title=question,
                    text=answer,
                    topic=row.get("class") or None,
                    licence=self.licence,
                )


LOADERS: dict[str, type[Loader]] = {cls.name: cls for cls in (AskCfpbLoader, TranscriptLoader, FaqLoader)}


def loader_for(source: KBSource) -> tuple[Path, Loader]:
    """Resolve a source's path and pick its loader (sniffing the first bytes when the format is `auto`)."""
    path = source.path if source.path.is_absolute() else get_settings().shared_data_dir / source.path
    if not path.is_file() and source.path.is_file():
        path = source.path
    if not path.is_file():
        raise DataError("file not found", str(path), "pass an existing file to --source")
    if path.stat().st_size == 0:
        raise DataError("file is empty", str(path), "point --source at a non-empty export")
    if source.format != "auto":
        return path, LOADERS[source.format](source.licence)
    with _open(path) as handle:
        head = handle.read(4096)
    for cls in LOADERS.values():
        if cls.sniff(path, head):
            return path, cls(source.licence)
    raise DataError(
        "unknown knowledge-base format",
        str(path),
        "use Ask CFPB JSONL/CSV, customer-care thread JSON, or a Question,Answer[,Class] CSV",
    )


def load_source(source: KBSource) -> tuple[Path, str, list[KBEntry]]:
    """A source's resolved path, loader name and entries; a file that yields nothing is an error."""
    path, loader = loader_for(source)
    entries = list(loader.load(path))
    if not entries:
        raise DataError(f"no usable {loader.name} entries", str(path), "check the file's rows and format")
    return path, loader.name, entries


def ask_cfpb_url(question: str, ask_id: int) -> str:
    """Today's consumerfinance.gov page for an Ask CFPB answer."""
    slug = "-".join(normalise(question).split()[:12])
    return f"https://www.consumerfinance.gov/ask-cfpb/{slug}-en-{ask_id}/"


def _clean(text: str) -> str:
    return _SPACE.sub(" ", html.unescape(str(text or ""))).strip()


def _tweet(text: str) -> str:
    """Tweet text without @handles (they identify people) or agent initials."""
    text = _HANDLE.sub(" ", _clean(text))
    return _SIGNATURE.sub("", _SPACE.sub(" ", text)).strip()


def _open(path: Path) -> io.StringIO:
    """The file's text: UTF-8 (with or without BOM), else Windows-1252 as older exports use."""
    raw = path.read_bytes()
    try:
        return io.StringIO(raw.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:
        return io.StringIO(raw.decode("cp1252", errors="replace"), newline="")


def _read_jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({exc.msg})", f"{path} line {n}", "fix or drop the line") from exc
            if not isinstance(row, dict):
                raise DataError("expected a JSON object", f"{path} line {n}")
            yield f"{path} line {n}", row


def _read_ask_csv(path: Path) -> Iterator[tuple[str, dict]]:
    with _open(path) as handle:
        for n, row in enumerate(csv.DictReader(handle), start=2):
            yield (
                f"{path} line {n}",
                {
                    "ask_id": row.get("ASK_ID"),
                    "status": row.get("Status"),
                    "question": row.get("Question"),
                    "short_answer": row.get("ShortAnswer"),
                    "answer": row.get("Answer"),
                    "topic": row.get("Topic"),
                },
            )
