"""Every request of a load test, written by the Locust process and read back by run.py (no Locust import here)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

COLUMNS = ["started_s", "endpoint", "latency_ms", "chars", "failed"]


class RequestLog:
    """Start time (s into the run), endpoint, latency, text length and outcome of each request."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.rows: list[tuple[float, str, float, int, bool]] = []

    def record(self, name: str, response_time: float, exception: Exception | None, context: dict, **_) -> None:
        """Locust's `request` event: called when a request ends, with its latency in ms."""
        ended = time.monotonic() - self.started
        self.rows.append((ended - response_time / 1000, name, response_time, context.get("chars", 0), bool(exception)))

    def write(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows((f"{s:.3f}", n, f"{ms:.1f}", c, int(f)) for s, n, ms, c, f in sorted(self.rows))


def read_requests(path: Path) -> list[dict]:
    """The requests a load test wrote, oldest first; none when the file is missing."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [
            {
                "started_s": float(r["started_s"]),
                "endpoint": r["endpoint"],
                "latency_ms": float(r["latency_ms"]),
                "chars": int(r["chars"]),
                "failed": r["failed"] == "1",
            }
            for r in csv.DictReader(handle)
        ]
