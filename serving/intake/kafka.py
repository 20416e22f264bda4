"""Apache Kafka behind the intake interface (confluent-kafka): a consumer group, offsets committed by hand.

A Kafka acknowledgement is a position per partition: the committed offset only passes records that are settled,
so a crash or a rebalance redelivers every record read but not yet acknowledged, and a retry seeks back to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from serving.intake.streams import Lag, Record, StreamUnavailable, default_consumer, envelope_json
from teller.errors import TellerError
from teller.settings import IntakeSettings

FLUSH_TIMEOUT_S = 30.0


class KafkaStream:
    """A topic read through a consumer group with auto-commit off; dead letters produced to `<topic>.dlq`."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        dead_letter: str | None = None,
        consumer: str | None = None,
        config: dict[str, str] | None = None,
    ) -> None:
        from confluent_kafka import Consumer, Producer

        self.name, self.group, self.bootstrap = topic, group, bootstrap
        self.dead_letter_name = dead_letter or f"{topic}.dlq"
        self.consumer_name = consumer or default_consumer()
        common = {"bootstrap.servers": bootstrap, "client.id": self.consumer_name, **(config or {})}
        self.consumer = Consumer(
            {**common, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
        )
        self.producer = Producer({**common, "enable.idempotence": True, "acks": "all"})
        self._open: dict[int, set[int]] = {}  # per partition: offsets read and not yet acknowledged
        self._next: dict[int, int] = {}  # per partition: the offset after the last one read
        self._subscribed = False  # joined on the first read, so `teller intake send` never joins the group

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> KafkaStream:
        return cls(
            settings.kafka_bootstrap,
            settings.stream,
            settings.group,
            settings.dead_letter_stream,
            settings.consumer,
            settings.kafka_config,
        )

    @contextmanager
    def _calls(self, doing: str) -> Iterator[None]:
        from confluent_kafka import KafkaException

        try:
            yield
        except KafkaException as exc:
            raise StreamUnavailable(
                f"could not {doing} ({exc.args[0] if exc.args else exc})",
                f"Kafka topic {self.name!r} at {self.bootstrap}",
                "check the brokers in TELLER_INTAKE__KAFKA_BOOTSTRAP and the client settings; the consumer retries",
            ) from exc

    def read(self, max_records: int, block_ms: int) -> list[Record]:
        with self._calls("read"):
            if not self._subscribed:
                self.consumer.subscribe([self.name], on_revoke=self._revoked)
                self._subscribed = True
            messages = self.consumer.consume(max_records, timeout=block_ms / 1000)
        records = []
        for message in messages:
            if message.error() is not None:
                if message.error().fatal():
                    raise StreamUnavailable(
                        f"fatal consumer error {message.error().str()}",
                        f"Kafka topic {self.name!r}",
                        "restart the consumer; check the brokers and the client settings",
                    )
                continue  # informational (partition end, a broker reconnecting): librdkafka retries by itself
            partition, offset = message.partition(), message.offset()
            self._open.setdefault(partition, set()).add(offset)
            self._next[partition] = max(self._next.get(partition, 0), offset + 1)
            key = message.key()
            records.append(
                Record(
                    id=f"{partition}:{offset}",
                    data=message.value(),
                    key=key.decode(errors="replace") if key else None,
                    shard=str(partition),
                )
            )
        return records

    def ack(self, records: list[Record]) -> None:
        touched = set()
        for record in records:
            partition, offset = _position(record)
            self._open.get(partition, set()).discard(offset)
            touched.add(partition)
        self._commit(touched)

    def _commit(self, partitions: set[int]) -> None:
        """Commit each partition up to its oldest open record (or past its last read when none is open)."""
        from confluent_kafka import TopicPartition

        offsets = [
            TopicPartition(self.name, p, min(self._open[p]) if self._open.get(p) else self._next[p])
            for p in sorted(partitions)
            if p in self._next
        ]
        if offsets:
            with self._calls("commit offsets"):
                self.consumer.commit(offsets=offsets, asynchronous=False)

    def retry(self, records: list[Record]) -> None:
        """Seek each partition back to its oldest open record: it and everything after it is read again."""
        from confluent_kafka import TopicPartition

        for partition in {_position(r)[0] for r in records}:
            if not self._open.get(partition):
                continue
            start = min(self._open[partition])
            self._open[partition] = set()
            self._next[partition] = start
            with self._calls("seek back to unacknowledged records"):
                self.consumer.seek(TopicPartition(self.name, partition, start))

    def _revoked(self, _consumer, partitions) -> None:
        """A rebalance took partitions away: their open records go to the next owner from the committed offset."""
        for tp in partitions:
            self._open.pop(tp.partition, None)
            self._next.pop(tp.partition, None)

    def dead_letter(self, record: Record, error: TellerError) -> None:
        """Produce the envelope and wait for the broker's acknowledgement; only then acknowledge the record."""
        failures: list[str] = []

        def delivered(err, _message) -> None:
            if err is not None:
                failures.append(err.str())

        with self._calls("dead-letter a record"):
            self.producer.produce(
                self.dead_letter_name,
                value=envelope_json(record, error, self.name, self.consumer_name),
                key=record.key,
                on_delivery=delivered,
            )
            left = self.producer.flush(FLUSH_TIMEOUT_S)
        if left or failures:
            raise StreamUnavailable(
                f"the dead-letter topic did not take the record ({failures[0] if failures else 'flush timed out'})",
                f"Kafka topic {self.dead_letter_name!r}",
                "check that the topic exists and this client may write to it; the record stays unacknowledged",
            )
        self.ack([record])

    def lag(self) -> Lag:
        """Records between the group's committed offset and the end of each partition this consumer holds."""
        with self._calls("read the group's lag"):
            assigned = self.consumer.assignment()
            if not assigned:
                return Lag(records=None)
            behind = 0
            for tp in self.consumer.committed(assigned, timeout=10):
                low, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
                behind += high - (tp.offset if tp.offset >= 0 else low)
        return Lag(records=behind)

    def put(self, records: list[tuple[str, bytes]]) -> list[str]:
        """Produce keyed records (one key, one partition: per-complaint order kept); their positions once acked."""
        positions: list[str | None] = [None] * len(records)

        def delivered(i: int):
            def done(err, message) -> None:
                positions[i] = None if err is not None else f"{message.partition()}:{message.offset()}"

            return done

        with self._calls("produce records"):
            for i, (key, data) in enumerate(records):
                self.producer.produce(self.name, value=data, key=key, on_delivery=delivered(i))
                self.producer.poll(0)
            self.producer.flush(FLUSH_TIMEOUT_S)
        if None in positions:
            raise StreamUnavailable(
                f"{positions.count(None)} of {len(records)} records were not acknowledged by the brokers",
                f"Kafka topic {self.name!r}",
                "send them again (their complaint ids make a second copy harmless)",
            )
        return positions  # type: ignore[return-value]

    def close(self) -> None:
        """Leave the group (its partitions move to the other consumers at once) and flush the producer."""
        self.consumer.close()
        self.producer.flush(FLUSH_TIMEOUT_S)


def _position(record: Record) -> tuple[int, int]:
    partition, offset = record.id.split(":")
    return int(partition), int(offset)
