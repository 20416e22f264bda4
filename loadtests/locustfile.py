"""Locust scenarios against a running Teller: complaint triage and CSR chat with real texts (HTTP only).

Complaints come from a CFPB export (LOADTEST_COMPLAINTS, default ../shared/data/cfpb/complaints.csv.gz),
chat messages from the KB evaluation questions (LOADTEST_QUESTIONS, default rag/evalsets/eval.jsonl).
With LOADTEST_REQUESTS set, every request's start time, latency and text length are written there as CSV.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import random
import sys
import uuid
from pathlib import Path

from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).parent))  # Locust loads this file by path, not as a package module
from requests_log import RequestLog

ROOT = Path(__file__).resolve().parents[1]
COMPLAINTS = Path(os.environ.get("LOADTEST_COMPLAINTS", ROOT.parent / "shared/data/cfpb/complaints.csv.gz"))
QUESTIONS = Path(os.environ.get("LOADTEST_QUESTIONS", ROOT / "rag/evalsets/eval.jsonl"))


def narratives(path: Path, n: int = 500) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        rows = (r.get("Consumer complaint narrative", "").strip() for r in csv.DictReader(handle))
        return [text for text in itertools.islice((t for t in rows if t), n)]


NARRATIVES = narratives(COMPLAINTS)
MESSAGES = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]


LOG = RequestLog()
events.request.add_listener(LOG.record)


@events.quitting.add_listener
def _write_requests(**_) -> None:
    if path := os.environ.get("LOADTEST_REQUESTS"):
        LOG.write(Path(path))


class Customer(HttpUser):
    """Half complaint filings, half chat messages, with a short think time."""

    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.session_id = str(uuid.uuid4())

    @task
    def complaint(self) -> None:
        narrative = random.choice(NARRATIVES)
        self.client.post(
            "/api/complaints", json={"narrative": narrative}, name="complaints", context={"chars": len(narrative)}
        )

    @task
    def chat(self) -> None:
        body = {"message": random.choice(MESSAGES), "session_id": self.session_id}
        self.client.post("/api/chat", json=body, name="chat", context={"chars": len(body["message"])})
