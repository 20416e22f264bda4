"""The intake loop: read a bounded batch, dead-letter bad records, triage the rest through `TellerService`, then ack.

At least once and idempotent: a record is acknowledged only after its decision is committed to the audit store,
and a complaint id the store already holds (a replay, or another consumer's redelivery) is never decided twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import Field, ValidationError
from sqlalchemy.exc import IntegrityError

from serving.errors import InvalidInput, MalformedPayload, PayloadTooLarge, ServiceError, StoreUnavailable, Unavailable
from serving.intake.streams import Record, Stream
from serving.schemas import ComplaintRequest
from serving.service import TellerService
from teller.settings import IntakeSettings

log = logging.getLogger(__name__)

FIX_RECORD = "correct the record and put it on the stream again (the dead-letter entry keeps the original)"
MAX_BACKOFF_S = 30.0


class IntakeRecord(ComplaintRequest):
    """A complaint on the stream: the API's complaint fields plus the producer's id, the key that makes replays safe."""

    complaint_id: str = Field(
        min_length=1,
        max_length=36,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Producer-assigned id: letters, digits and . _ : - (a UUID fits); the stored complaint's id.",
    )


class IntakeMetrics:
    """Prometheus metrics of one consumer, registered beside the service's stage latencies."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter("teller_intake_consumed", "Records read from the stream", registry=registry)
        self.decided = Counter("teller_intake_decided", "Records triaged and stored", registry=registry)
        self.duplicates = Counter(
            "teller_intake_duplicates", "Records skipped: their complaint id was already decided", registry=registry
        )
        self.dead_lettered = Counter(
            "teller_intake_dead_lettered",
            "Records refused and put on the dead-letter stream",
            ["error"],
            registry=registry,
        )
        self.errors = Counter(
            "teller_intake_errors", "Polls that failed and left records for a retry", ["error"], registry=registry
        )
        self.lag_records = Gauge(
            "teller_intake_lag_records", "Records the group has not acknowledged (Redis)", registry=registry
        )
        self.lag_seconds = Gauge(
            "teller_intake_lag_seconds",
            "How far behind the newest record the last read was (Kinesis)",
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "teller_intake_batch_seconds",
            "Time to handle one batch: parse, triage, store, ack",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )


@dataclass
class BatchResult:
    """What one poll did with the records it read."""

    read: int = 0
    decided: int = 0
    duplicates: int = 0
    dead_lettered: int = 0


def parse(record: Record, max_chars: int) -> IntakeRecord:
    """The record's complaint, or the typed error (what, where, fix) it is dead-lettered with."""
    where = f"record {record.id}"
    if record.data is None:
        raise MalformedPayload("the entry holds no data", where, "put the complaint JSON under the field 'data'")
    if len(record.data) > 4 * max_chars + 4096:
        raise PayloadTooLarge(f"{len(record.data)} bytes", where, "shorten the narrative or split the complaint")
    try:
        raw = json.loads(record.data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedPayload("not UTF-8 text", where, "encode the record as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"not JSON ({exc.msg} at character {exc.pos})", where, FIX_RECORD) from None
    if not isinstance(raw, dict):
        raise MalformedPayload(f"expected a JSON object, got {type(raw).__name__}", where, FIX_RECORD)
    try:
        complaint = IntakeRecord.model_validate(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "record"
        raise InvalidInput(problem["msg"], f"{where} field {field}", FIX_RECORD) from None
    if not complaint.narrative.strip():
        raise InvalidInput("blank", f"{where} field narrative", "send the narrative text")
    if len(complaint.narrative) > max_chars:
        raise PayloadTooLarge(
            f"{len(complaint.narrative)} characters; the limit is {max_chars}",
            f"{where} field narrative",
            "shorten the narrative or split the complaint",
        )
    return complaint


class Consumer:
    """Polls a stream and triages what it reads through the service; `stop` ends it after the batch in flight."""

    def __init__(
        self, service: TellerService, stream: Stream, settings: IntakeSettings, metrics: IntakeMetrics | None = None
    ) -> None:
        self.service, self.stream, self.settings = service, stream, settings
        self.metrics = metrics if metrics is not None else IntakeMetrics(service.metrics.registry)
        self.stop = threading.Event()

    async def poll(self) -> BatchResult:
        """Read at most one batch and settle every record in it: decided, duplicate, dead-lettered, or left to retry.

        Raises `Unavailable` (nothing of the failed part acknowledged) when a backend, the store or the stream fails.
        """
        records = self.stream.read(self.settings.batch_size, self.settings.block_ms)
        if not records:
            return BatchResult()
        self.metrics.consumed.inc(len(records))
        with self.metrics.batch_seconds.time():
            try:
                return await self._settle(records)
            except Unavailable:
                self.stream.retry(records)  # what was not acknowledged is delivered again
                raise

    async def _settle(self, records: list[Record]) -> BatchResult:
        result = BatchResult(read=len(records))
        fresh: dict[str, tuple[Record, IntakeRecord]] = {}
        duplicates: list[Record] = []
        for record in records:
            try:
                complaint = parse(record, self.service.settings.max_text_chars)
            except ServiceError as error:
                self._dead_letter(record, error)
                result.dead_lettered += 1
                continue
            if complaint.complaint_id in fresh:  # the same complaint twice in one batch
                duplicates.append(record)
            else:
                fresh[complaint.complaint_id] = (record, complaint)
        try:
            known = self._decided(list(fresh))
            duplicates += [fresh.pop(cid)[0] for cid in known]
            decided, raced, refused = await self._triage(list(fresh.values()))
        except Unavailable:
            self._finish(duplicates, 0, len(duplicates))
            raise
        for record, error in refused:
            self._dead_letter(record, error)
        result.dead_lettered += len(refused)
        result.decided, result.duplicates = len(decided), len(duplicates) + len(raced)
        self._finish([*decided, *raced, *duplicates], result.decided, result.duplicates)
        return result

    def _finish(self, records: list[Record], decided: int, duplicates: int) -> None:
        """Acknowledge settled records, then count them."""
        self.stream.ack(records)
        self.metrics.decided.inc(decided)
        self.metrics.duplicates.inc(duplicates)

    async def _triage(
        self, batch: list[tuple[Record, IntakeRecord]]
    ) -> tuple[list[Record], list[Record], list[tuple[Record, ServiceError]]]:
        """Decide and store a batch in one service call: (decided, decided meanwhile by another consumer, refused)."""
        if not batch:
            return [], [], []
        try:
            await self.service.triage([c for _, c in batch], ids=[c.complaint_id for _, c in batch])
            return [r for r, _ in batch], [], []
        except StoreUnavailable as error:
            if not isinstance(error.__cause__, IntegrityError):
                raise
            known = self._decided([c.complaint_id for _, c in batch])  # the race: another consumer committed first
            if not known:
                raise
            rest = [(r, c) for r, c in batch if c.complaint_id not in known]
            decided, raced, refused = await self._triage(rest)
            return decided, raced + [r for r, c in batch if c.complaint_id in known], refused
        except Unavailable:
            raise
        except ServiceError as error:  # refused by the service's own checks: find the record, keep the rest
            if len(batch) == 1:
                return [], [], [(batch[0][0], error)]
            parts = [await self._triage([item]) for item in batch]
            return [r for p in parts for r in p[0]], [r for p in parts for r in p[1]], [e for p in parts for e in p[2]]

    def _decided(self, ids: list[str]) -> set[str]:
        """Which of these complaint ids the audit store already holds."""
        return self.service.stored(ids)

    def _dead_letter(self, record: Record, error: ServiceError) -> None:
        log.warning("dead-lettered %s: %s", record.id, error.detail)
        self.stream.dead_letter(record, error)
        self.metrics.dead_lettered.labels(type(error).__name__).inc()

    def update_lag(self) -> None:
        """Refresh the lag gauges (a failure to read them is logged, never fatal)."""
        try:
            lag = self.stream.lag()
        except Unavailable as error:
            log.warning("could not read the stream's lag: %s", error.detail)
            return
        if lag.records is not None:
            self.metrics.lag_records.set(lag.records)
        if lag.seconds is not None:
            self.metrics.lag_seconds.set(lag.seconds)

    async def run(self) -> None:
        """Poll until `stop` is set; after a failure wait (doubling up to 30 s) and retry the same records."""
        backoff = self.settings.retry_backoff_s
        while not self.stop.is_set():
            try:
                result = await self.poll()
                backoff = self.settings.retry_backoff_s
                if result.read:
                    log.info(
                        "batch of %d: %d decided, %d duplicates, %d dead-lettered",
                        result.read,
                        result.decided,
                        result.duplicates,
                        result.dead_lettered,
                    )
            except Unavailable as error:
                self.metrics.errors.labels(type(error).__name__).inc()
                log.warning("batch not settled, retrying in %.1f s: %s", backoff, error.detail)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            self.update_lag()

    def stop_on_signals(self) -> None:
        """SIGTERM or SIGINT: finish and acknowledge the batch in flight, then return from `run`."""

        def stop(signum: int, _frame) -> None:
            log.info("%s: stopping after the batch in flight", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def serve_metrics(registry: CollectorRegistry, host: str, port: int):
    """Start the Prometheus endpoint in a thread; returns the server (None when port is 0)."""
    if not port:
        return None
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, addr=host, registry=registry)
    return server


def run_intake(settings: IntakeSettings, service: TellerService, stream: Stream) -> None:
    """Serve metrics and consume until SIGTERM or SIGINT; the batch in flight is finished and acknowledged."""
    logging.getLogger("serving.intake").setLevel(logging.INFO)  # `setup_logging` holds the root logger to errors
    consumer = Consumer(service, stream, settings)
    server = serve_metrics(service.metrics.registry, settings.metrics_host, settings.metrics_port)
    consumer.stop_on_signals()
    log.info(
        "consuming %s (group %s) with model %s; metrics on %s:%s",
        stream.name,
        settings.group,
        service.model_version,
        settings.metrics_host,
        settings.metrics_port,
    )
    started = time.perf_counter()
    try:
        asyncio.run(consumer.run())
    finally:
        stream.close()
        if server is not None:
            server.shutdown()
    log.info("stopped after %.0f s", time.perf_counter() - started)
