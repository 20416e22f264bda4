"""Records for `teller intake send`: JSON lines as they are, or a CFPB export's narratives as intake records."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from teller import cfpb
from teller.errors import DataError

SUBMITTED_VIA = "Submitted via"


def file_records(path: Path, limit: int | None = None) -> list[tuple[str, bytes]]:
    """(key, payload) pairs: each line of a .jsonl file unchanged, or each CFPB row (.csv, .csv.gz) with a narrative."""
    if not path.is_file():
        raise DataError("no such file", str(path), "give a .jsonl file of complaint records or a CFPB .csv(.gz)")
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        rows = _jsonl(path)
    elif name.endswith((".csv", ".csv.gz")):
        rows = _cfpb(path)
    else:
        raise DataError("unknown file type", str(path), "use .jsonl (one record per line) or a CFPB .csv / .csv.gz")
    records = []
    for key, data in rows:
        if limit is not None and len(records) >= limit:
            break
        records.append((key, data))
    return records


def _jsonl(path: Path) -> Iterator[tuple[str, bytes]]:
    """Lines sent as they are (a bad one is the consumer's to dead-letter); the key is the complaint_id if any."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                key = str(json.loads(line).get("complaint_id") or number)
            except (ValueError, AttributeError):
                key = str(number)
            yield key, line


def _cfpb(path: Path) -> Iterator[tuple[str, bytes]]:
    """A CFPB export's rows with a narrative and an id, as intake records keyed `cfpb-<Complaint ID>`."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {cfpb.COMPLAINT_ID, cfpb.NARRATIVE} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"missing columns {sorted(missing)}", str(path), "use a CFPB complaints export")
        for row in reader:
            narrative = (row.get(cfpb.NARRATIVE) or "").strip()
            if not narrative or not row[cfpb.COMPLAINT_ID].strip():
                continue
            complaint_id = f"cfpb-{row[cfpb.COMPLAINT_ID]}"
            record = {
                "complaint_id": complaint_id,
                "narrative": narrative,
                "product": row.get(cfpb.PRODUCT) or None,
                "channel": row.get(SUBMITTED_VIA) or None,
            }
            yield complaint_id, json.dumps(record).encode()
