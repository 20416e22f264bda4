"""Streaming intake over Kafka: the real confluent-kafka client against librdkafka's in-process mock cluster
(a broker speaking the Kafka protocol on loopback), with the real masker, tiny bundle and SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid

import pytest
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import Producer, TopicPartition
from sqlalchemy.exc import OperationalError

from serving.errors import StoreUnavailable
from serving.intake.consumer import BatchResult, Consumer
from serving.intake.kafka import KafkaStream
from serving.intake.streams import open_stream
from teller.settings import IntakeSettings
from tests.serving.test_intake import audit_db, decisions, intake_backends, record, service  # noqa: F401

QUIET = {"log_level": "2"}  # no reconnect errors from clients that outlive the cluster at the end of the module


@pytest.fixture(scope="module")
def bootstrap():
    """A one-broker Kafka cluster inside this process (librdkafka's mock cluster); topics get 4 partitions."""
    cluster = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    (broker,) = cluster.list_topics(timeout=10).brokers.values()
    yield f"{broker.host}:{broker.port}"
    cluster.flush(5)


@pytest.fixture
def settings(bootstrap) -> IntakeSettings:
    return IntakeSettings(
        backend="kafka",
        stream=f"complaints-{uuid.uuid4().hex[:8]}",
        kafka_bootstrap=bootstrap,
        kafka_config=QUIET,
        batch_size=4,
        block_ms=200,
        retry_backoff_s=0.05,
        metrics_port=0,
    )


def stream(settings: IntakeSettings, name: str) -> KafkaStream:
    return KafkaStream(settings.kafka_bootstrap, settings.stream, settings.group, consumer=name, config=QUIET)


def poll_until(consumer: Consumer, settled: int, timeout: float = 60) -> BatchResult:
    """Poll until `settled` records are decided, duplicates or dead-lettered (the group join takes seconds)."""
    total, deadline = BatchResult(), time.monotonic() + timeout
    while total.decided + total.duplicates + total.dead_lettered < settled:
        assert time.monotonic() < deadline, f"only {total} after {timeout} s"
        result = asyncio.run(consumer.poll())
        for field in ("read", "decided", "duplicates", "dead_lettered"):
            setattr(total, field, getattr(total, field) + getattr(result, field))
    return total


def committed(settings: IntakeSettings) -> int:
    """Offsets the group has committed, summed over the topic's partitions."""
    probe = KafkaConsumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.group, **QUIET})
    try:
        partitions = probe.list_topics(settings.stream, timeout=10).topics[settings.stream].partitions
        offsets = probe.committed([TopicPartition(settings.stream, p) for p in partitions], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        probe.close()


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list[dict]:
    reader = KafkaConsumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            **QUIET,
        }
    )
    reader.subscribe([topic])
    found, deadline = [], time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            found += [json.loads(m.value()) for m in reader.consume(count, 1.0) if m.error() is None]
    finally:
        reader.close()
    return found


def test_records_are_decided_once_committed_and_bad_ones_dead_lettered(service, settings):  # noqa: F811
    source = open_stream(settings)
    assert isinstance(source, KafkaStream)
    ids = source.put([("c-1", record("c-1")), ("c-2", record("c-2")), ("c-1", record("c-1")), ("bad", b"{oops")])
    assert len(set(ids)) == 4 and all(":" in i for i in ids)
    consumer = Consumer(service, source, settings)
    total = poll_until(consumer, 4)
    assert (total.decided, total.duplicates, total.dead_lettered) == (2, 1, 1)
    assert {cid: len(a) for cid, a in decisions(service.store).items()} == {"c-1": 1, "c-2": 1}
    assert committed(settings) == 4, "every settled record is committed"
    consumer.update_lag()
    assert consumer.metrics.lag_records._value.get() == 0
    (letter,) = read_topic(settings.kafka_bootstrap, f"{settings.stream}.dlq", 1)
    assert letter["error"] == "MalformedPayload" and letter["data"] == "{oops" and letter["key"] == "bad"
    assert letter["source_stream"] == settings.stream and letter["source_id"] in ids
    source.close()


def test_a_failed_batch_is_read_again_and_decided_once_it_clears(service, settings, monkeypatch):  # noqa: F811
    source = stream(settings, "consumer-1")
    source.put([(f"r-{i}", record(f"r-{i}")) for i in range(3)])
    consumer = Consumer(service, source, settings)
    real, failed = service.store.record_decisions, []

    def down_once(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(service.store, "record_decisions", down_once)
    deadline = time.monotonic() + 60
    while not failed:
        assert time.monotonic() < deadline
        with contextlib.suppress(StoreUnavailable):
            asyncio.run(consumer.poll())
    assert committed(settings) == 0 and decisions(service.store) == {}
    total = poll_until(consumer, 3)
    assert total.decided == 3 and committed(settings) == 3
    assert {cid: len(a) for cid, a in decisions(service.store).items()} == {f"r-{i}": 1 for i in range(3)}
    source.close()


def test_a_consumer_that_dies_mid_batch_loses_nothing_and_its_successor_decides_each_once(service, settings):  # noqa: F811
    first = stream(settings, "consumer-1")
    first.put([(f"k-{i}", record(f"k-{i}")) for i in range(8)])
    deadline, read = time.monotonic() + 60, []
    while not read:  # it reads a batch, then dies before deciding it: nothing of it is committed
        assert time.monotonic() < deadline
        read = first.read(4, 200)
    first.consumer.close()
    assert committed(settings) == 0

    second = stream(settings, "consumer-2")
    total = poll_until(Consumer(service, second, settings), 8)
    assert total.decided == 8 and committed(settings) == 8
    assert {cid: len(a) for cid, a in decisions(service.store).items()} == {f"k-{i}": 1 for i in range(8)}
    second.close()
