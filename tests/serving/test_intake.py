"""Streaming intake over a real redis-server, the real masker, the tiny ONNX bundle and a real SQLite store:
decided once, stored masked, acked only after the commit, bad records dead-lettered, nothing lost on faults,
kills or SIGTERM; Kinesis proven call by call with botocore's Stubber."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest
import redis
from botocore.stub import ANY, Stubber
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from serving.errors import BackendUnavailable, StoreUnavailable
from serving.intake.consumer import BatchResult, Consumer, serve_metrics
from serving.intake.kinesis import KinesisStream
from serving.intake.streams import RedisStream, decode_dead_letter
from serving.schemas import ComplaintRequest
from serving.service import TellerService
from teller.settings import IntakeSettings, get_settings
from teller.store import Allocation, Complaint, Store
from tests.conftest import free_port
from tests.redis_server import running
from tests.serving.test_gateway import NARRATIVE, PII

GROUP = "teller-intake"
TELLER = Path(sys.executable).parent / "teller"


@pytest.fixture(scope="module")
def redis_url():
    with running(free_port()) as url:
        yield url


@pytest.fixture
def settings(redis_url, request) -> IntakeSettings:
    """A stream of this test's own, small batches, short waits."""
    return IntakeSettings(
        stream=f"test:{request.node.name}",
        redis_url=redis_url,
        batch_size=4,
        block_ms=50,
        claim_idle_ms=1000,
        retry_backoff_s=0.05,
        metrics_port=0,
    )


@pytest.fixture
def stream(settings):
    stream = RedisStream(settings.redis_url, settings.stream, settings.group, "consumer-1", claim_idle_ms=1000)
    yield stream
    stream.close()


@pytest.fixture(scope="module")
def intake_backends(classifier):
    """The masker and the tiny bundle's classifier; triage needs no answerer."""
    from serving.backends import LocalBackends
    from teller.masking import Masker

    return LocalBackends(Masker(), classifier, answerer=None)


@pytest.fixture
def audit_db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'audit.db'}"


@pytest.fixture
def service(intake_backends, audit_db) -> TellerService:
    """A fresh store and metrics registry per test, so every count below is this test's alone."""
    return TellerService(intake_backends, Store(audit_db), get_settings().serve)


def record(cid: str, narrative: str = NARRATIVE, **fields) -> bytes:
    return json.dumps({"complaint_id": cid, "narrative": narrative, **fields}).encode()


def put(stream, *payloads: bytes) -> None:
    stream.put([(str(i), p) for i, p in enumerate(payloads)])


def drain(consumer: Consumer, polls: int = 50) -> BatchResult:
    """Poll until a poll reads nothing; the summed result."""
    total = BatchResult()
    for _ in range(polls):
        result = asyncio.run(consumer.poll())
        if not result.read:
            return total
        for field in ("read", "decided", "duplicates", "dead_lettered"):
            setattr(total, field, getattr(total, field) + getattr(result, field))
    raise AssertionError(f"stream not drained after {polls} polls")


def decisions(store: Store) -> dict[str, list[Allocation]]:
    with store.session() as s:
        return {c.id: list(c.allocations) for c in s.scalars(select(Complaint))}


def pending(settings: IntakeSettings) -> int:
    with redis.Redis.from_url(settings.redis_url) as client:
        return client.xpending(settings.stream, settings.group)["pending"]


def dead_letters(settings: IntakeSettings) -> list[dict[str, str]]:
    with redis.Redis.from_url(settings.redis_url) as client:
        return [decode_dead_letter(f) for _, f in client.xrange(f"{settings.stream}.dlq")]


def test_records_are_decided_stored_masked_and_acked(service, stream, settings, classifier):
    put(stream, record("c-1"), record("c-2", product="Debt collection", channel="Web"), record("c-3"))
    consumer = Consumer(service, stream, settings)
    assert drain(consumer) == BatchResult(read=3, decided=3)
    stored = decisions(service.store)
    assert sorted(stored) == ["c-1", "c-2", "c-3"]
    for cid, allocations in stored.items():
        (allocation,) = allocations
        assert allocation.model_version == classifier.version and allocation.model_name == service.model_name
        narrative = service.store.complaint(cid)[0].narrative
        assert all(value not in narrative for value in PII.values()), narrative
    assert service.store.complaint("c-2")[0].product == "Debt collection"
    assert pending(settings) == 0
    consumer.update_lag()
    assert consumer.metrics.lag_records._value.get() == 0


def test_a_replayed_record_makes_exactly_one_decision(service, stream, settings):
    put(stream, record("same"), record("same"))  # twice in one batch
    consumer = Consumer(service, stream, settings)
    assert drain(consumer) == BatchResult(read=2, decided=1, duplicates=1)
    put(stream, record("same", narrative="A different text under the same id."))  # replayed later
    assert drain(consumer) == BatchResult(read=1, duplicates=1)
    assert [len(a) for a in decisions(service.store).values()] == [1]
    assert pending(settings) == 0


def test_bad_records_are_dead_lettered_with_a_reason_and_the_consumer_goes_on(
    intake_backends, audit_db, stream, settings
):
    serve = get_settings().serve.model_copy(update={"max_text_chars": 300})
    service = TellerService(intake_backends, Store(audit_db), serve)
    bad = {
        b"not json {": ("MalformedPayload", "not JSON", "record"),
        b"\xff\xfe broken": ("MalformedPayload", "not UTF-8", "record"),
        b'["a list"]': ("MalformedPayload", "JSON object", "record"),
        json.dumps({"complaint_id": "b-1"}).encode(): ("InvalidInput", "Field required", "field narrative"),
        record("b-2", narrative="   "): ("InvalidInput", "blank", "field narrative"),
        record("b-3", narrative="x" * 301): ("PayloadTooLarge", "the limit is 300", "field narrative"),
        record("b-4", product="<script>alert(1)</script>"): ("InvalidInput", "use letters", "field product"),
        json.dumps({"narrative": NARRATIVE}).encode(): ("InvalidInput", "Field required", "field complaint_id"),
    }
    put(stream, *bad, record("good-1"))
    consumer = Consumer(service, stream, settings)
    assert drain(consumer) == BatchResult(read=9, decided=1, dead_lettered=8)
    assert list(decisions(service.store)) == ["good-1"]
    letters = dead_letters(settings)
    assert len(letters) == len(bad) and pending(settings) == 0
    for letter, (payload, (error, what, where)) in zip(letters, bad.items(), strict=True):
        assert letter["error"] == error and what in letter["what"] and where in letter["where"], letter
        assert letter["fix"] and letter["source_stream"] == settings.stream and letter["consumer"] == "consumer-1"
        assert letter["data"] == payload.decode(errors="replace")
    counted = consumer.metrics.dead_lettered
    assert counted.labels("MalformedPayload")._value.get() == 3 and counted.labels("InvalidInput")._value.get() == 4


def test_a_store_failure_leaves_the_record_pending_until_it_clears(service, stream, settings, monkeypatch):
    def broken(*_):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    put(stream, record("s-1"), record("s-2"))
    consumer = Consumer(service, stream, settings)
    with monkeypatch.context() as patch:
        patch.setattr(service.store, "record_decisions", broken)
        for _ in range(2):  # and again: the retry reads the same pending records, not new ones
            with pytest.raises(StoreUnavailable):
                asyncio.run(consumer.poll())
            assert pending(settings) == 2 and decisions(service.store) == {}
    put(stream, record("s-3"))
    assert drain(consumer) == BatchResult(read=3, decided=3)
    assert sorted(decisions(service.store)) == ["s-1", "s-2", "s-3"] and pending(settings) == 0


def test_a_failing_classifier_leaves_the_record_pending_until_it_recovers(service, stream, settings, monkeypatch):
    def broken(_texts):
        raise RuntimeError("ONNX session lost")

    put(stream, record("f-1"))
    consumer = Consumer(service, stream, settings)
    with monkeypatch.context() as patch:
        patch.setattr(service.backends.classifier, "triage", broken)
        with pytest.raises(BackendUnavailable):
            asyncio.run(consumer.poll())
        assert pending(settings) == 1 and decisions(service.store) == {}
    assert drain(consumer) == BatchResult(read=1, decided=1)
    assert pending(settings) == 0


def test_a_record_another_consumer_decided_meanwhile_is_a_duplicate(service, stream, settings, monkeypatch):
    """The race: the id is not in the store when checked, but another consumer commits it before this insert."""
    put(stream, record("r-1"), record("r-2"))
    asyncio.run(service.triage([ComplaintRequest(narrative=NARRATIVE)], ids=["r-1"]))  # the other consumer
    consumer = Consumer(service, stream, settings)
    checks = []
    real = consumer._decided

    def stale_first(ids):
        checks.append(ids)
        return set() if len(checks) == 1 else real(ids)

    monkeypatch.setattr(consumer, "_decided", stale_first)
    assert drain(consumer) == BatchResult(read=2, decided=1, duplicates=1)
    assert {cid: len(a) for cid, a in decisions(service.store).items()} == {"r-1": 1, "r-2": 1}
    assert pending(settings) == 0 and len(checks) >= 2


def consumer_process(settings: IntakeSettings, name: str, bundle: str, audit_db: str, claim_idle_ms: int, log: Path):
    """`teller intake` in its own process, logging to `log`."""
    env = {
        **os.environ,
        "TELLER_INTAKE__REDIS_URL": settings.redis_url,
        "TELLER_INTAKE__STREAM": settings.stream,
        "TELLER_INTAKE__CONSUMER": name,
        "TELLER_INTAKE__BATCH_SIZE": "4",
        "TELLER_INTAKE__BLOCK_MS": "100",
        "TELLER_INTAKE__CLAIM_IDLE_MS": str(claim_idle_ms),
        "TELLER_INTAKE__METRICS_PORT": "0",
        "TELLER_SERVE__BUNDLE": bundle,
        "TELLER_SERVE__DATABASE_URL": audit_db,
    }
    with log.open("a") as handle:
        return subprocess.Popen([str(TELLER), "intake"], env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_for(condition, timeout: float, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            raise AssertionError(f"consumer exited {process.returncode}: {log.read_text()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def stored_count(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Complaint))


def group_info(settings: IntakeSettings) -> dict:
    with redis.Redis.from_url(settings.redis_url) as client:
        (group,) = client.xinfo_groups(settings.stream)
        return group


def send(settings: IntakeSettings, tmp_path: Path, count: int, monkeypatch) -> list[str]:
    """Put `count` records on the stream with `teller intake send FILE`."""
    from teller.cli import app

    ids = [f"k-{i:03d}" for i in range(count)]
    lines = (record(cid, f"{NARRATIVE} Complaint number {i}.").decode() for i, cid in enumerate(ids))
    (tmp_path / "records.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("TELLER_INTAKE__REDIS_URL", settings.redis_url)
    get_settings.cache_clear()
    try:
        args = ["intake", "--stream", settings.stream, "send", str(tmp_path / "records.jsonl")]
        result = CliRunner().invoke(app, args)
    finally:
        monkeypatch.delenv("TELLER_INTAKE__REDIS_URL")
        get_settings.cache_clear()
    assert result.exit_code == 0 and f"{count} records" in result.output, result.output
    return ids


def kill_mid_batch(process: subprocess.Popen, settings: IntakeSettings, store: Store, log: Path) -> None:
    """SIGKILL the consumer once it has decided a few records, at a moment it holds a batch unacknowledged."""
    for _ in range(200):
        wait_for(lambda: stored_count(store) >= 4, 120, process, log)
        process.send_signal(signal.SIGSTOP)
        if group_info(settings)["pending"] > 0:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("never caught the consumer with a batch in flight")


def test_a_killed_consumer_loses_nothing_and_its_successor_decides_each_record_once(
    settings, tmp_path, tiny_bundle, audit_db, monkeypatch
):
    store = Store(audit_db)
    ids = send(settings, tmp_path, 60, monkeypatch)
    log = tmp_path / "consumers.log"
    first = consumer_process(settings, "doomed", tiny_bundle["bundle"], audit_db, 60_000, log)
    try:
        kill_mid_batch(first, settings, store, log)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    in_flight = group_info(settings)["pending"]
    assert stored_count(store) < len(ids) and in_flight > 0  # killed mid-stream, a batch read but not acked
    second = consumer_process(settings, "successor", tiny_bundle["bundle"], audit_db, 1000, log)
    try:
        drained = lambda: stored_count(store) == len(ids) and group_info(settings)["pending"] == 0  # noqa: E731
        wait_for(drained, 180, second, log)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            code = second.wait(timeout=60)
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
    assert code == 0
    stored = decisions(store)
    assert sorted(stored) == ids and all(len(a) == 1 for a in stored.values())
    assert group_info(settings)["lag"] == 0


def test_sigterm_finishes_and_acks_the_batch_in_flight_then_exits_0(
    settings, tmp_path, tiny_bundle, audit_db, monkeypatch
):
    store = Store(audit_db)
    ids = send(settings, tmp_path, 60, monkeypatch)
    log = tmp_path / "consumer.log"
    process = consumer_process(settings, "stopped", tiny_bundle["bundle"], audit_db, 60_000, log)
    try:
        wait_for(lambda: stored_count(store) >= 4, 120, process, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    group = group_info(settings)
    assert group["pending"] == 0  # everything it read was finished and acknowledged
    assert stored_count(store) == group["entries-read"] < len(ids)  # it stopped early, each read record decided
    assert "SIGTERM: stopping after the batch in flight" in log.read_text()


SHARD = "shardId-000000000000"
CHECKPOINTS = "teller-intake-checkpoints"


def kinesis_record(sequence: str, data: bytes, key: str) -> dict:
    return {"SequenceNumber": sequence, "Data": data, "PartitionKey": key}


def test_kinesis_reads_checkpoints_and_dead_letters_with_the_exact_calls(service, monkeypatch):
    monkeypatch.setattr("serving.intake.kinesis.time.sleep", lambda _: None)
    aws = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    kinesis, dynamodb = boto3.client("kinesis", **aws), boto3.client("dynamodb", **aws)
    key = {"stream": {"S": "teller-complaints"}, "shard": {"S": SHARD}}
    sent: list[dict] = []
    kinesis.meta.events.register("provide-client-params.kinesis.PutRecord", lambda params, **_: sent.append(params))
    settings = IntakeSettings(backend="kinesis", stream="teller-complaints", batch_size=8, block_ms=10)
    stream = KinesisStream("teller-complaints", CHECKPOINTS, kinesis, dynamodb, consumer="consumer-1")
    consumer = Consumer(service, stream, settings)
    shard = {
        "ShardId": SHARD,
        "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "340282366920938463463374607431768211455"},
        "SequenceNumberRange": {"StartingSequenceNumber": "100"},
    }

    def checkpoint(sequence: str) -> dict:
        item = {**key, "sequence_number": {"S": sequence}, "consumer": {"S": "consumer-1"}, "updated_at": {"S": ANY}}
        return {"TableName": CHECKPOINTS, "Item": item}

    with Stubber(kinesis) as k, Stubber(dynamodb) as d:
        # first poll: no checkpoint yet, so from the shard's start; a bad record between two good ones
        k.add_response("list_shards", {"Shards": [shard]}, {"StreamName": "teller-complaints"})
        d.add_response("get_item", {}, {"TableName": CHECKPOINTS, "Key": key, "ConsistentRead": True})
        k.add_response(
            "get_shard_iterator",
            {"ShardIterator": "it-1"},
            {"StreamName": "teller-complaints", "ShardId": SHARD, "ShardIteratorType": "TRIM_HORIZON"},
        )
        records = [
            kinesis_record("101", record("k-1"), "k-1"),
            kinesis_record("102", b"not json", "k-x"),
            kinesis_record("103", record("k-2"), "k-2"),
        ]
        k.add_response(
            "get_records",
            {"Records": records, "NextShardIterator": "it-2", "MillisBehindLatest": 1500},
            {"ShardIterator": "it-1", "Limit": 8},
        )
        k.add_response(
            "put_record",
            {"ShardId": SHARD, "SequenceNumber": "900"},
            {"StreamName": "teller-complaints.dlq", "Data": ANY, "PartitionKey": "k-x"},
        )
        d.add_response("put_item", {}, checkpoint("103"))  # one checkpoint, after the whole batch is stored
        assert asyncio.run(consumer.poll()) == BatchResult(read=3, decided=2, dead_lettered=1)

        # second poll: a record while the classifier is down: no checkpoint; the retry rewinds to the checkpoint
        k.add_response(
            "get_records",
            {"Records": [kinesis_record("104", record("k-3"), "k-3")], "NextShardIterator": "it-3"},
            {"ShardIterator": "it-2", "Limit": 8},
        )
        with monkeypatch.context() as patch:
            patch.setattr(service.backends.classifier, "triage", lambda _: 1 / 0)
            with pytest.raises(BackendUnavailable):
                asyncio.run(consumer.poll())
        d.add_response(
            "get_item",
            {"Item": {**key, "sequence_number": {"S": "103"}}},
            {"TableName": CHECKPOINTS, "Key": key, "ConsistentRead": True},
        )
        k.add_response(
            "get_shard_iterator",
            {"ShardIterator": "it-4"},
            {
                "StreamName": "teller-complaints",
                "ShardId": SHARD,
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": "103",
            },
        )
        k.add_response(
            "get_records",
            {
                "Records": [kinesis_record("104", record("k-3"), "k-3")],
                "NextShardIterator": "it-5",
                "MillisBehindLatest": 250,
            },
            {"ShardIterator": "it-4", "Limit": 8},
        )
        d.add_response("put_item", {}, checkpoint("104"))
        assert asyncio.run(consumer.poll()) == BatchResult(read=1, decided=1)
        k.assert_no_pending_responses()
        d.assert_no_pending_responses()

    (letter,) = [json.loads(p["Data"]) for p in sent]
    assert letter["data"] == "not json" and letter["encoding"] == "utf-8" and letter["error"] == "MalformedPayload"
    assert letter["source_stream"] == "teller-complaints" and letter["source_id"] == "102" and letter["fix"]
    assert sorted(decisions(service.store)) == ["k-1", "k-2", "k-3"]
    assert stream.lag().seconds == 0.25  # the last read's MillisBehindLatest


def test_kinesis_send_puts_records_keyed_by_complaint_id():
    aws = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    kinesis, dynamodb = boto3.client("kinesis", **aws), boto3.client("dynamodb", **aws)
    stream = KinesisStream("teller-complaints", CHECKPOINTS, kinesis, dynamodb)
    with Stubber(kinesis) as k:
        k.add_response(
            "put_records",
            {"Records": [{"SequenceNumber": "1", "ShardId": SHARD}]},  # FailedRecordCount only when some failed
            {"StreamName": "teller-complaints", "Records": [{"Data": record("k-1"), "PartitionKey": "k-1"}]},
        )
        assert stream.put([("k-1", record("k-1"))]) == ["1"]
        k.assert_no_pending_responses()


def test_metrics_endpoint_shows_counts_and_lag(service, stream, settings):
    put(stream, record("m-1"), b"{oops", record("m-2"), record("m-1"))
    consumer = Consumer(service, stream, settings)
    server = serve_metrics(service.metrics.registry, "127.0.0.1", free_port())
    try:
        assert drain(consumer) == BatchResult(read=4, decided=2, duplicates=1, dead_lettered=1)
        put(stream, record("m-3"))  # on the stream, not yet consumed
        consumer.update_lag()
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics").text
    finally:
        server.shutdown()
    for line in (
        "teller_intake_consumed_total 4.0",
        "teller_intake_decided_total 2.0",
        "teller_intake_duplicates_total 1.0",
        'teller_intake_dead_lettered_total{error="MalformedPayload"} 1.0',
        "teller_intake_lag_records 1.0",
        "teller_intake_batch_seconds_count 1.0",
    ):
        assert line in text, line
    stage = f'teller_stage_seconds_count{{model_version="{service.model_version}",stage="classification"}} 1.0'
    assert stage in text  # the service's stage latencies beside them
