"""Amazon Kinesis behind the intake interface: GetRecords per shard, checkpoints in DynamoDB, dead letters by PutRecord.

A Kinesis acknowledgement is a position: the checkpoint advances over a shard's records only while every earlier
record read from that shard is done, and a retry rewinds the shard to its checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from serving.intake.streams import Lag, Record, StreamUnavailable, default_consumer, envelope_json
from teller.errors import TellerError
from teller.settings import IntakeSettings

PUT_RECORDS_MAX = 500  # Kinesis PutRecords takes at most 500 records per call


class KinesisStream:
    """One consumer over every shard of a stream, shard after shard; one checkpoint per shard in DynamoDB."""

    def __init__(
        self,
        stream: str,
        checkpoint_table: str,
        kinesis,
        dynamodb,
        dead_letter: str | None = None,
        consumer: str | None = None,
    ) -> None:
        self.name, self.table = stream, checkpoint_table
        self.dead_letter_name = dead_letter or f"{stream}.dlq"
        self.consumer = consumer or default_consumer()
        self.kinesis, self.dynamodb = kinesis, dynamodb
        self._shards: list[str] = []
        self._turn = 0
        self._iterators: dict[str, str | None] = {}
        self._inflight: dict[str, list[Record]] = {}  # read, not yet checkpointed, in stream order
        self._done: set[tuple[str, str]] = set()
        self._behind_ms: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> KinesisStream:
        import boto3

        region = {"region_name": settings.kinesis_region} if settings.kinesis_region else {}
        return cls(
            settings.stream,
            settings.checkpoint_table,
            boto3.client("kinesis", **region),
            boto3.client("dynamodb", **region),
            settings.dead_letter_stream,
            settings.consumer,
        )

    @contextmanager
    def _calls(self, doing: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise StreamUnavailable(
                f"could not {doing} ({type(exc).__name__}: {exc})",
                f"Kinesis stream {self.name!r}",
                "check the stream, the DynamoDB checkpoint table and the pod's AWS role; the consumer retries",
            ) from exc

    def read(self, max_records: int, block_ms: int) -> list[Record]:
        """The next shard's records after its checkpoint (or after the last read); waits `block_ms` when none."""
        with self._calls("read"):
            shard = self._next_shard()
            if shard is None:
                time.sleep(block_ms / 1000)
                return []
            records = self._get_records(shard, max_records)
        self._inflight.setdefault(shard, []).extend(records)
        if not records and self._turn == 0:  # a full round of shards found nothing new
            time.sleep(block_ms / 1000)
        return records

    def _next_shard(self) -> str | None:
        if not self._shards:
            self._shards = self._list_shards()
            self._turn = 0
        if not self._shards:
            return None
        shard = self._shards[self._turn % len(self._shards)]
        self._turn = (self._turn + 1) % len(self._shards)
        return shard

    def _list_shards(self) -> list[str]:
        shards, token = [], None
        while True:
            page = (
                self.kinesis.list_shards(NextToken=token) if token else self.kinesis.list_shards(StreamName=self.name)
            )
            shards += [s["ShardId"] for s in page["Shards"]]
            token = page.get("NextToken")
            if not token:
                return shards

    def _get_records(self, shard: str, limit: int) -> list[Record]:
        from botocore.exceptions import ClientError

        if self._iterators.get(shard) is None:
            self._iterators[shard] = self._iterator(shard)
        try:
            page = self.kinesis.get_records(ShardIterator=self._iterators[shard], Limit=limit)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExpiredIteratorException":
                raise
            self._iterators[shard] = self._iterator(shard)  # idle over 5 minutes: start again from the checkpoint
            page = self.kinesis.get_records(ShardIterator=self._iterators[shard], Limit=limit)
        self._iterators[shard] = page.get("NextShardIterator")
        self._behind_ms[shard] = page.get("MillisBehindLatest", 0)
        if self._iterators[shard] is None:  # a closed shard (resharded) read to its end: list shards again later
            self._shards = [s for s in self._shards if s != shard]
            self._turn = 0
        return [Record(r["SequenceNumber"], r["Data"], r.get("PartitionKey"), shard) for r in page["Records"]]

    def _iterator(self, shard: str) -> str:
        """Start after the shard's checkpoint, or at its oldest record when it has none."""
        checkpoint = self._checkpoint(shard)
        start = {"ShardIteratorType": "TRIM_HORIZON"}
        if checkpoint:
            start = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": checkpoint}
        return self.kinesis.get_shard_iterator(StreamName=self.name, ShardId=shard, **start)["ShardIterator"]

    def _checkpoint(self, shard: str) -> str | None:
        item = self.dynamodb.get_item(TableName=self.table, Key=self._key(shard), ConsistentRead=True).get("Item")
        return item["sequence_number"]["S"] if item else None

    def _key(self, shard: str) -> dict:
        return {"stream": {"S": self.name}, "shard": {"S": shard}}

    def ack(self, records: list[Record]) -> None:
        """Mark records done, then checkpoint each shard at its last record with every earlier one done."""
        self._done.update((r.shard or "", r.id) for r in records)
        for shard in {r.shard or "" for r in records}:
            inflight = self._inflight.get(shard, [])
            done = 0
            while done < len(inflight) and (shard, inflight[done].id) in self._done:
                done += 1
            if done:
                with self._calls("checkpoint"):
                    self._save_checkpoint(shard, inflight[done - 1].id)
                self._done.difference_update((shard, r.id) for r in inflight[:done])
                self._inflight[shard] = inflight[done:]

    def _save_checkpoint(self, shard: str, sequence_number: str) -> None:
        item = {
            **self._key(shard),
            "sequence_number": {"S": sequence_number},
            "consumer": {"S": self.consumer},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
        }
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def retry(self, records: list[Record]) -> None:
        """Rewind each shard of `records` to its checkpoint: the next read there delivers them again."""
        for shard in {r.shard or "" for r in records}:
            self._iterators[shard] = None
            self._done.difference_update((shard, r.id) for r in self._inflight.pop(shard, []))

    def dead_letter(self, record: Record, error: TellerError) -> None:
        with self._calls("dead-letter a record"):
            self.kinesis.put_record(
                StreamName=self.dead_letter_name,
                Data=envelope_json(record, error, self.name, self.consumer),
                PartitionKey=record.key or record.id,
            )
        self.ack([record])

    def lag(self) -> Lag:
        """How far behind the newest record the slowest shard's last read was (GetRecords' MillisBehindLatest)."""
        return Lag(seconds=max(self._behind_ms.values()) / 1000 if self._behind_ms else None)

    def put(self, records: list[tuple[str, bytes]]) -> list[str]:
        ids: list[str] = []
        with self._calls("append records"):
            for start in range(0, len(records), PUT_RECORDS_MAX):
                chunk = records[start : start + PUT_RECORDS_MAX]
                reply = self.kinesis.put_records(
                    StreamName=self.name, Records=[{"Data": data, "PartitionKey": key} for key, data in chunk]
                )
                if reply.get("FailedRecordCount"):
                    raise StreamUnavailable(
                        f"{reply['FailedRecordCount']} of {len(chunk)} records were refused (throttled?)",
                        f"Kinesis stream {self.name!r}",
                        "send again: a record already stored is skipped by its complaint_id",
                    )
                ids += [r["SequenceNumber"] for r in reply["Records"]]
        return ids

    def close(self) -> None:
        self.kinesis.close()
        self.dynamodb.close()
