"""Batch scoring: stream complaints from a file, mask them, triage them with a bundle, write the decisions.

The input is a CFPB export (.csv, .csv.gz, .zip) or any CSV/Parquet file with a text column. Only masked text is
ever written, and the output appears in one rename at the end, so a failed run leaves no half-written file.
`predict_ray` runs the same mask and score steps as Ray Data actors for inputs one machine cannot finish.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from itertools import chain, islice
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from teller.bundle import load_bundle
from teller.cfpb import COMPLAINT_ID, NARRATIVE
from teller.classifier import BundleClassifier
from teller.decision import Triage, decide, vulnerable_threshold
from teller.errors import DataError, TellerError
from teller.io import atomic_path
from teller.masking import Masker
from training.data import _rows

CSV_SUFFIXES = (".csv", ".csv.gz", ".zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
OUTPUT_SUFFIXES = (".csv", ".parquet")
INPUT_SCHEMA = pa.schema([("row", pa.int64()), ("complaint_id", pa.string()), ("text", pa.string())])
OUTPUT_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("complaint_id", pa.string()),
        ("masked_text", pa.string()),
        ("team", pa.string()),
        ("issue", pa.string()),
        ("vulnerable", pa.bool_()),
        ("queue", pa.string()),
        ("team_confidence", pa.float64()),
        ("issue_confidence", pa.float64()),
        ("vulnerable_probability", pa.float64()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
    ]
)
Row = tuple[int, str | None, str | None]  # (row number, complaint id, raw text)
_UNREADABLE = (OSError, EOFError, zlib.error, zipfile.BadZipFile, pa.ArrowException)


@dataclass
class PredictStats:
    """What a run read, scored and skipped, and how fast it went."""

    read: int = 0
    scored: int = 0
    skipped: int = 0
    seconds: float = 0.0
    scoring_seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Texts per second once the models are loaded (masking, scoring and writing)."""
        return self.scored / self.scoring_seconds if self.scoring_seconds else 0.0

    def summary(self, out: Path) -> str:
        return (
            f"scored {self.scored} rows, skipped {self.skipped} without text; {self.rate:.1f} texts/s "
            f"({self.scoring_seconds:.1f} s scoring, {self.seconds:.1f} s in all) -> {out}"
        )


def input_kind(path: Path) -> str:
    """'csv' or 'parquet', from the file name; any other suffix is an error."""
    name = Path(path).name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise DataError("unknown input file type", str(path), f"give a {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} file")


def output_kind(path: Path) -> str:
    """'csv' or 'parquet', from the --out suffix; any other suffix is an error."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise TellerError(f"unknown output suffix {suffix or '(none)'!r}", str(path), "end --out with .csv or .parquet")
    return suffix.removeprefix(".")


def read_chunks(
    path: Path,
    text_column: str = NARRATIVE,
    size: int = 256,
    limit: int | None = None,
    stats: PredictStats | None = None,
) -> Iterator[pa.Table]:
    """Stream (row, complaint_id, text) tables of at most `size` rows with text; empty texts are counted and dropped."""
    stats = stats if stats is not None else PredictStats()
    rows = _csv_rows(path, text_column) if input_kind(path) == "csv" else _parquet_rows(path, text_column)
    kept = _kept(_guarded(rows, path), stats)
    while chunk := list(islice(kept, size if limit is None else min(size, limit - stats.scored))):
        stats.scored += len(chunk)
        yield pa.Table.from_pylist([{"row": r, "complaint_id": c, "text": t} for r, c, t in chunk], INPUT_SCHEMA)
    if stats.read and not stats.scored and limit != 0:
        raise DataError(
            f"empty text in every one of {stats.read} rows",
            f"{path}, column {text_column!r}",
            "give a file whose text column is filled (CFPB: filter 'Has narrative')",
        )


def _kept(rows: Iterable[Row], stats: PredictStats) -> Iterator[Row]:
    """Count every row read; pass on those with text, count the rest as skipped."""
    for row, complaint_id, text in rows:
        stats.read += 1
        if text is None or not text.strip():
            stats.skipped += 1
            continue
        yield row, complaint_id, text


def _csv_rows(path: Path, text_column: str) -> Iterator[Row]:
    """Rows of a CSV (plain, gzip or zip) through the training loader's decoding and shape checks."""
    fix = f"pass --text-column NAME naming the column with the complaint text (a CFPB export has {NARRATIVE!r})"
    for row_no, row in _rows(path, (text_column,), fix):
        complaint_id = (row.get(COMPLAINT_ID) or "").strip() or None
        yield row_no, complaint_id, row[text_column]


def _parquet_rows(path: Path, text_column: str, batch_rows: int = 4096) -> Iterator[Row]:
    """Rows of a Parquet file, read a record batch at a time (rows numbered from 1)."""
    if not Path(path).is_file():
        raise DataError("file not found", str(path), "check the path")
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    if text_column not in names:
        raise DataError(f"missing column {text_column!r}; found {names[:8]}", str(path), "pass --text-column NAME")
    kind = file.schema_arrow.field(text_column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataError(f"column {text_column!r} is not text", str(path), "pass the column that holds the text")
    columns = [text_column, *([COMPLAINT_ID] if COMPLAINT_ID in names and text_column != COMPLAINT_ID else [])]
    row_no = 0
    for batch in file.iter_batches(batch_size=batch_rows, columns=columns):
        ids = batch.column(COMPLAINT_ID).cast(pa.string()).to_pylist() if len(columns) > 1 else None
        for i, text in enumerate(batch.column(text_column).to_pylist()):
            row_no += 1
            yield row_no, (ids[i] if ids else None), text


def _guarded(rows: Iterator[Row], path: Path) -> Iterator[Row]:
    """Turn a corrupt archive or Parquet file into a DataError naming the last good row."""
    last = 0
    try:
        for item in rows:
            last = item[0]
            yield item
    except csv.Error as exc:
        raise DataError(f"not a readable CSV ({exc})", f"{path}, after row {last}") from None
    except _UNREADABLE as exc:
        raise DataError(
            f"unreadable file ({type(exc).__name__}: {exc})",
            f"{path}, after row {last}" if last else str(path),
            "check the file is complete and of the type its name says",
        ) from None


class Scorer:
    """Masker and bundle loaded once; turns an input table into a decision table (a Ray Data callable too)."""

    def __init__(self, bundle_path: str | Path, threads: int | None = None) -> None:
        self.bundle = load_bundle(Path(bundle_path))
        self.classifier = BundleClassifier(self.bundle, threads=threads, providers=["CPUExecutionProvider"])
        self.masker = Masker()
        self.threshold = vulnerable_threshold(self.bundle.info.thresholds)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Mask the batch's texts, score them, and return one decision row per input row."""
        masked = [m.text for m in self.masker.mask_many(batch.column("text").to_pylist())]
        decisions = decide(self.classifier.probabilities(masked), self.bundle.labels, self.threshold)
        info = self.bundle.info
        columns = {
            "row": batch.column("row"),
            "complaint_id": batch.column("complaint_id"),
            "masked_text": masked,
            **{f.name: [getattr(d, f.name) for d in decisions] for f in fields(Triage)},
            "model_name": [info.name] * len(masked),
            "model_version": [info.version] * len(masked),
        }
        return pa.table(columns, schema=OUTPUT_SCHEMA)


@contextmanager
def open_output(path: Path) -> Iterator[Callable[[pa.Table], None]]:
    """A table writer for `path` (.csv or .parquet); the file appears only if the block ends without error."""
    kind = output_kind(path)
    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(tmp, OUTPUT_SCHEMA) if kind == "parquet" else pacsv.CSVWriter(tmp, OUTPUT_SCHEMA)
        try:
            yield writer.write_table
        finally:
            writer.close()


def predict(
    data: Path,
    out: Path,
    bundle_path: Path,
    text_column: str = NARRATIVE,
    batch_size: int = 256,
    limit: int | None = None,
) -> PredictStats:
    """Mask, score and write every row with text in `data`, in this process."""
    output_kind(out)
    stats, started = PredictStats(), time.perf_counter()
    with open_output(out) as write:
        chunks = _checked(read_chunks(data, text_column, batch_size, limit, stats))
        scorer = Scorer(bundle_path)
        loaded = time.perf_counter()
        with _bar(limit) as bar:
            for chunk in chunks:
                write(scorer(chunk))
                bar.update(chunk.num_rows)
    stats.seconds, stats.scoring_seconds = time.perf_counter() - started, time.perf_counter() - loaded
    return stats


def predict_ray(
    data: Path,
    out: Path,
    bundle_path: Path,
    address: str,
    text_column: str = NARRATIVE,
    batch_size: int = 256,
    limit: int | None = None,
) -> PredictStats:
    """`predict` over Ray Data: chunks go to the object store, actors (one masker + bundle each) score them."""
    import ray

    output_kind(out)
    stats, started = PredictStats(), time.perf_counter()
    with open_output(out) as write:
        chunks = _checked(read_chunks(data, text_column, batch_size, limit, stats))
        with _ray(address):
            refs = [ray.put(chunk) for chunk in tqdm(chunks, desc="reading", unit="chunk")]
            queued = time.perf_counter()
            with _bar(stats.scored) as bar:
                for batch in _scored(refs, bundle_path, batch_size):
                    write(batch.select(OUTPUT_SCHEMA.names).cast(OUTPUT_SCHEMA))
                    bar.update(batch.num_rows)
            stats.scoring_seconds = time.perf_counter() - queued  # includes the actors' model loading
    stats.seconds = time.perf_counter() - started
    return stats


def _checked(chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Read the first chunk now, so a bad file fails before any model loads."""
    first = next(chunks, None)
    return chain([first], chunks) if first is not None else iter(())


def _scored(refs: list, bundle_path: Path, batch_size: int) -> Iterator[pa.Table]:
    """Decision tables, in input order, from one single-threaded Scorer actor per CPU (or per block, if fewer)."""
    import ray
    import ray.data

    if not refs:
        return iter(())
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False  # the scoring bar is the one progress line
    actors = max(1, min(len(refs), int(ray.cluster_resources().get("CPU", 1))))
    return (
        ray.data.from_arrow_refs(refs)
        .map_batches(
            Scorer,
            fn_constructor_kwargs={"bundle_path": str(Path(bundle_path).resolve()), "threads": 1},
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
        .iter_batches(batch_format="pyarrow")
    )


@contextmanager
def _ray(address: str) -> Iterator[None]:
    """Connect to Ray at `address` ('local' starts one on loopback); reuse a connection this process already has."""
    import ray

    if ray.is_initialized():
        yield
        return
    with tempfile.TemporaryDirectory(prefix="teller-ray-", ignore_cleanup_errors=True) as temp:
        if address == "local":
            # Ray runs workers at nice 15; on a machine doing other work that starves the actors.
            ray.init(
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                _temp_dir=temp,
                log_to_driver=False,
                logging_level=logging.WARNING,
                _system_config={"worker_niceness": 0},
            )
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        try:
            yield
        finally:
            ray.shutdown()


def _bar(total: int | None) -> tqdm:
    return tqdm(total=total, desc="scoring", unit="text", dynamic_ncols=True)
