"""Where intake records come from and where bad ones go: one small interface, and Redis Streams behind it.

A record is acknowledged only when the consumer says so (after the store commit): until then a crash or a
failed batch leaves it pending, and it is delivered again (at least once).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from serving.errors import Unavailable
from teller.errors import TellerError
from teller.settings import IntakeSettings


@dataclass(frozen=True)
class Record:
    """One stream entry: its position in the stream, its payload (None if the entry is gone), its producer's key."""

    id: str
    data: bytes | None
    key: str | None = None
    shard: str | None = None


@dataclass(frozen=True)
class Lag:
    """How far the consumers are behind: records not yet acknowledged (Redis), or age of the newest read (Kinesis)."""

    records: int | None = None
    seconds: float | None = None


class StreamUnavailable(Unavailable):
    """The stream (Redis, Kinesis) could not be read or written; nothing was acknowledged."""


class Stream(Protocol):
    """What the consumer needs of a stream; every call may raise `StreamUnavailable`."""

    name: str
    dead_letter_name: str

    def read(self, max_records: int, block_ms: int) -> list[Record]:
        """At most `max_records` records: first those to retry, then new ones (waiting up to `block_ms` for them)."""
        ...

    def ack(self, records: list[Record]) -> None:
        """Mark records done; they are never delivered again."""
        ...

    def retry(self, records: list[Record]) -> None:
        """Records read but not done (a backend failed): deliver them again on a later read."""
        ...

    def dead_letter(self, record: Record, error: TellerError) -> None:
        """Put the record and why it was refused on the dead-letter stream, then acknowledge it."""
        ...

    def lag(self) -> Lag: ...

    def put(self, records: list[tuple[str, bytes]]) -> list[str]:
        """Append (key, payload) records, returning their stream positions (the `teller intake send` helper)."""
        ...

    def close(self) -> None: ...


def default_consumer() -> str:
    """This process's name in a consumer group: unique per pod and process."""
    return f"{socket.gethostname()}-{os.getpid()}"


def dead_letter_envelope(record: Record, error: TellerError, stream: str, consumer: str) -> dict[str, str]:
    """Why a record was refused (what, where, fix) and where it came from; the original payload travels with it."""
    return {
        "error": type(error).__name__,
        "what": error.what,
        "where": error.where or "",
        "fix": error.fix or "",
        "source_stream": stream,
        "source_id": record.id,
        "consumer": consumer,
        "at": datetime.now(UTC).isoformat(),
    }


class RedisStream:
    """A Redis stream read through a consumer group: XREADGROUP, XACK, XAUTOCLAIM and XADD to `<stream>.dlq`."""

    def __init__(
        self,
        url: str,
        stream: str,
        group: str,
        consumer: str | None = None,
        dead_letter: str | None = None,
        claim_idle_ms: int = 60_000,
    ) -> None:
        import redis

        self.url, self.name, self.group = url, stream, group
        self.consumer = consumer or default_consumer()
        self.dead_letter_name = dead_letter or f"{stream}.dlq"
        self.claim_idle_ms = claim_idle_ms
        self.client = redis.Redis.from_url(url, socket_timeout=75, socket_connect_timeout=5)  # > the longest block
        self._own_pending = True  # after a restart under the same name, or a failed batch: retry ours first
        self._cursor = "0-0"
        self.create_group()

    @contextmanager
    def _calls(self, doing: str) -> Iterator[None]:
        """A Redis failure becomes `StreamUnavailable` (the URL's password never shown)."""
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as exc:
            raise StreamUnavailable(
                f"could not {doing} ({type(exc).__name__}: {exc})",
                f"Redis stream {self.name!r}",
                "check that Redis is running at TELLER_INTAKE__REDIS_URL; the consumer retries",
            ) from exc

    def create_group(self) -> None:
        """Create the stream and the consumer group (from the stream's start) unless they exist."""
        from redis.exceptions import ResponseError

        with self._calls("create the consumer group"):
            try:
                self.client.xgroup_create(self.name, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def read(self, max_records: int, block_ms: int) -> list[Record]:
        with self._calls("read"):
            if self._own_pending:
                own = self._read_group("0", max_records, None)
                if own:
                    return own
                self._own_pending = False
            records = self._claim(max_records)
            if len(records) < max_records:
                wait = None if records or not block_ms else block_ms  # redis-py: block=0 waits forever
                records += self._read_group(">", max_records - len(records), wait)
            return records

    def _read_group(self, start: str, count: int, block_ms: int | None) -> list[Record]:
        """This consumer's pending records (`start` "0") or new ones (">")."""
        reply = self.client.xreadgroup(self.group, self.consumer, {self.name: start}, count=count, block=block_ms)
        return [_record(entry_id, fields) for _, entries in reply or [] for entry_id, fields in entries]

    def _claim(self, count: int) -> list[Record]:
        """Records another consumer (or this one, before a restart) received but left unacknowledged too long."""
        if self.claim_idle_ms <= 0:
            return []
        cursor, entries, *_ = self.client.xautoclaim(
            self.name, self.group, self.consumer, self.claim_idle_ms, start_id=self._cursor, count=count
        )
        self._cursor = _text(cursor)
        return [_record(entry_id, fields) for entry_id, fields in entries]

    def ack(self, records: list[Record]) -> None:
        if records:
            with self._calls("acknowledge records"):
                self.client.xack(self.name, self.group, *(r.id for r in records))

    def retry(self, records: list[Record]) -> None:
        self._own_pending = True  # they stay in this consumer's pending list; the next read takes them first

    def dead_letter(self, record: Record, error: TellerError) -> None:
        fields: dict[str, str | bytes] = {
            "data": record.data or b"",
            **dead_letter_envelope(record, error, self.name, self.consumer),
        }
        if record.key:
            fields["key"] = record.key
        with self._calls("dead-letter a record"), self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_letter_name, fields)  # both or neither: MULTI/EXEC
            pipe.xack(self.name, self.group, record.id)
            pipe.execute()

    def lag(self) -> Lag:
        """Records the group has not acknowledged: never delivered (XINFO GROUPS lag) plus pending."""
        with self._calls("read the group's lag"):
            for group in self.client.xinfo_groups(self.name):
                if _text(group["name"]) == self.group:
                    undelivered = group.get("lag")
                    if undelivered is None:  # Redis cannot tell after entries were deleted (XDEL)
                        return Lag(records=None)
                    return Lag(records=int(undelivered) + int(group["pending"]))
        return Lag(records=None)

    def put(self, records: list[tuple[str, bytes]]) -> list[str]:
        with self._calls("append records"), self.client.pipeline(transaction=False) as pipe:
            for key, data in records:
                pipe.xadd(self.name, {"key": key, "data": data})
            return [_text(i) for i in pipe.execute()]

    def close(self) -> None:
        self.client.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(entry_id: bytes | str, fields: dict | None) -> Record:
    """A Record from a Redis entry; an entry deleted since delivery has no fields and no data."""
    fields = fields or {}
    key = fields.get(b"key")
    return Record(id=_text(entry_id), data=fields.get(b"data"), key=key.decode(errors="replace") if key else None)


def decode_dead_letter(fields: dict) -> dict[str, str]:
    """A Redis dead-letter entry as text (for tests and operators): the envelope plus the original data."""
    return {_text(k): v.decode(errors="replace") if isinstance(v, bytes) else v for k, v in fields.items()}


def open_stream(settings: IntakeSettings) -> Stream:
    """The configured stream backend."""
    if settings.backend == "redis":
        return RedisStream(
            settings.redis_url,
            settings.stream,
            settings.group,
            settings.consumer,
            settings.dead_letter_stream,
            settings.claim_idle_ms,
        )
    if settings.backend == "kinesis":
        from serving.intake.kinesis import KinesisStream

        return KinesisStream.from_settings(settings)
    from serving.intake.kafka import KafkaStream

    return KafkaStream.from_settings(settings)


def envelope_json(record: Record, error: TellerError, stream: str, consumer: str) -> bytes:
    """The dead-letter envelope as one JSON document, the original payload as text or base64 (Kinesis, files)."""
    import base64

    body: dict[str, str] = dead_letter_envelope(record, error, stream, consumer)
    data = record.data or b""
    try:
        body["data"], body["encoding"] = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body["data"], body["encoding"] = base64.b64encode(data).decode(), "base64"
    if record.key:
        body["key"] = record.key
    return json.dumps(body, sort_keys=True).encode()
