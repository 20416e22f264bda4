"""Loaders for the training and evaluation sources: CFPB exports, Banking77 CSV, CLINC150 JSON.

Every loader streams, maps raw labels through the taxonomy, and turns a bad file into one DataError
naming the file, the row and the problem.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from teller import cfpb
from teller.cfpb import NARRATIVE
from teller.errors import DataError
from teller.taxonomy import Taxonomy

BANKING77_COLUMNS = ("text", "category")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class Example:
    """One labelled text; a label is None where the source does not say (masked out of the loss)."""

    text: str
    source: str
    team: str | None = None
    issue: str | None = None
    vulnerable: int | None = None
    intent: str | None = None
    raw: dict[str, str] = field(default_factory=dict)

    def label(self, head: str) -> str | int | None:
        return getattr(self, head)


@dataclass
class LoadStats:
    """What a loader read, kept and skipped (and why)."""

    read: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """Open a .csv/.json, gzip or zip (first data member) file as UTF-8 text, streaming."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", str(path), "check the path")
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith((".csv", ".json"))]
            if not members:
                raise DataError("zip archive holds no .csv or .json file", str(path))
            with archive.open(members[0]) as raw:
                yield _decode(raw, path)
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as raw:
            yield _decode(raw, path)
    else:
        with path.open("rb") as raw:
            yield _decode(raw, path)


def _decode(raw: IO[bytes], path: Path) -> IO[str]:
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    encoding = "utf-16" if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    return io.TextIOWrapper(raw, encoding=encoding, newline="")  # type: ignore[arg-type]


def _rows(path: Path, required: tuple[str, ...], fix: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (row number as a spreadsheet shows it, row) from a CSV, checking shape and encoding."""
    with open_text(path) as handle:
        row_no = 1
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(
                    f"missing column(s) {', '.join(repr(c) for c in missing)}; found {header[:8]}",
                    f"{path}, row 1 (header)",
                    fix,
                )
            for row_no, row in enumerate(reader, start=2):
                if None in row or any(row.get(c) is None for c in required):
                    raise DataError(
                        f"expected {len(header)} fields, found a different number (unbalanced quotes?)",
                        f"{path}, row {row_no}",
                        "repair or drop the malformed row",
                    )
                yield row_no, row
        except UnicodeDecodeError as exc:
            raise DataError(
                f"unknown text encoding (not UTF-8: {exc.reason} at byte {exc.start})",
                f"{path}, after row {row_no}",
                "re-save the file as UTF-8",
            ) from None
        except csv.Error as exc:
            raise DataError(f"not a readable CSV ({exc})", f"{path}, row {row_no + 1}") from None


def iter_cfpb(path: Path, taxonomy: Taxonomy, stats: LoadStats | None = None) -> Iterator[Example]:
    """Stream complaints with a narrative from a CFPB export (.csv, .csv.gz or .zip).

    Rows without a narrative (the CFPB publishes one only with consent) are skipped and counted.
    An unknown product is an error: the taxonomy must be extended, not the data silently dropped.
    """
    stats = stats if stats is not None else LoadStats()
    has_narrative = False
    for row_no, row in _rows(path, cfpb.REQUIRED, "export complaints from the CFPB database with all columns"):
        stats.read += 1
        text = row[NARRATIVE].strip()
        if not text:
            stats.skip("empty narrative")
            continue
        has_narrative = True
        product = row[cfpb.PRODUCT].strip()
        team = taxonomy.team_for_product(product)
        if team is None:
            raise DataError(
                f"unknown product {product!r}",
                f"{path}, row {row_no}",
                "add the product string to a team in teller/config/taxonomy.yaml",
            )
        recorded = row.get(cfpb.TAGS_RECORDED, "Yes").strip().lower() != "no"
        stats.kept += 1
        yield Example(
            text=text,
            source="cfpb",
            team=team,
            issue=taxonomy.issue_for(row[cfpb.ISSUE]),
            vulnerable=taxonomy.vulnerable_for(row.get(cfpb.TAGS) or "", recorded),
            raw=row,
        )
    if stats.read and not has_narrative:
        raise DataError(
            f"empty narrative in every one of {stats.read} rows",
            f"{path}, column {NARRATIVE!r}",
            "export complaints with narratives (filter 'Has narrative' in the CFPB search)",
        )


def iter_banking77(path: Path, taxonomy: Taxonomy, stats: LoadStats | None = None) -> Iterator[Example]:
    """Stream Banking77-format queries (`text,category`), checking every category is a known intent."""
    stats = stats if stats is not None else LoadStats()
    known = set(taxonomy.intent_labels)
    for row_no, row in _rows(path, BANKING77_COLUMNS, "use a CSV with columns text,category"):
        stats.read += 1
        text, intent = row["text"].strip(), row["category"].strip()
        if not text:
            raise DataError("empty text", f"{path}, row {row_no}", "fill in or drop the row")
        if intent not in known:
            raise DataError(
                f"unknown intent {intent!r}",
                f"{path}, row {row_no}",
                "use one of the 77 Banking77 intents or 'out_of_scope' (see teller/config/taxonomy.yaml)",
            )
        stats.kept += 1
        yield Example(text=text, source="banking77", intent=intent, raw={"text": text})


def iter_clinc150_out_of_scope(
    path: Path, taxonomy: Taxonomy, splits: tuple[str, ...] = ("train", "val", "oos_train", "oos_val")
) -> Iterator[Example]:
    """CLINC150 queries a bank's CSR chat should not answer: `oos` plus intents outside banking domains."""
    try:
        with open_text(path) as handle:
            data = json.load(handle)
        domains_path = Path(path).with_name("domains.json")
        in_scope: set[str] = set()
        if domains_path.exists():
            domains = json.loads(domains_path.read_text())
            in_scope = {i for d in taxonomy.clinc_in_scope_domains for i in domains.get(d, [])}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON ({exc})", str(path), "use CLINC150's data_*.json format") from None
    for split in splits:
        items = data.get(split)
        if items is None:
            raise DataError(f"missing key {split!r}", str(path), "use CLINC150's data_full.json format")
        for n, item in enumerate(items):
            if not (isinstance(item, list) and len(item) == 2):
                raise DataError("expected [text, intent]", f"{path}, {split}[{n}]")
            text, intent = item
            if intent not in in_scope:
                yield Example(text=text, source="clinc150", intent=taxonomy.out_of_scope_intent, raw={"text": text})


def detect_format(path: Path) -> str:
    """'cfpb' or 'banking77', from the file's header row."""
    with open_text(path) as handle:
        header = next(csv.reader(handle), [])
    if NARRATIVE in header:
        return "cfpb"
    if all(c in header for c in BANKING77_COLUMNS):
        return "banking77"
    raise DataError(
        f"not a CFPB export or Banking77 CSV (header: {header[:6]})",
        f"{path}, row 1",
        f"give a CFPB export (with {NARRATIVE!r}) or a CSV with columns text,category",
    )


def iter_labelled(path: Path, taxonomy: Taxonomy, stats: LoadStats | None = None) -> Iterator[Example]:
    """Stream any supported labelled file, choosing the loader from its header."""
    loader = iter_cfpb if detect_format(path) == "cfpb" else iter_banking77
    return loader(path, taxonomy, stats)
