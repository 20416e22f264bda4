"""The audit store under concurrent writers, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from teller.store import Allocation, Complaint, Feedback, Store
from tests.conftest import free_port
from tests.postgres import running

WRITERS, EACH = 8, 25


@pytest.fixture(scope="module")
def postgres_url():
    with running(free_port()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'teller.db'}")
        return
    store = Store(request.getfixturevalue("postgres_url"))
    yield store
    with store.engine.begin() as connection:  # the module's server is shared: leave it empty for the next test
        connection.exec_driver_sql("TRUNCATE feedback, allocations, complaints, model_strategy")


def _file(store: Store, writer: int, n: int) -> str:
    complaint = Complaint(narrative=f"writer {writer} complaint {n}", queue="general")
    allocation = Allocation(
        complaint=complaint,
        model_name="teller",
        model_version="v1",
        team="cards",
        issue="Fees",
        vulnerable=False,
        probabilities={"team": {"cards": 1.0}},
        latency_ms=1.0,
    )
    store.record_decisions([complaint], [allocation])
    return complaint.id


def test_concurrent_writers_lose_nothing(store):
    with ThreadPoolExecutor(WRITERS) as pool:
        ids = list(pool.map(lambda i: _file(store, i // EACH, i % EACH), range(WRITERS * EACH)))
    stored = store.complaints(limit=10 * WRITERS * EACH)
    assert sorted(c.id for c in stored) == sorted(ids)
    assert all(len(c.allocations) == 1 and c.allocations[0].complaint_id == c.id for c in stored)


def test_an_open_read_on_sqlite_does_not_block_decisions_being_stored(tmp_path):
    path = tmp_path / "teller.db"
    store = Store(f"sqlite:///{path}")
    first = _file(store, 0, 0)
    reader = sqlite3.connect(path, timeout=0.5)
    reader.execute("BEGIN")
    assert reader.execute("SELECT id FROM complaints").fetchall() == [(first,)]  # the console's read, still open
    second = _file(store, 0, 1)  # a rollback journal would wait for the reader here and fail: database is locked
    assert reader.execute("SELECT count(*) FROM complaints").fetchone() == (1,)  # the reader's snapshot holds
    reader.rollback()
    assert reader.execute("SELECT count(*) FROM complaints").fetchone() == (2,) and second != first
    assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reader.close()


def test_concurrent_corrections_of_one_complaint_are_all_kept(store):
    complaint_id = _file(store, 0, 0)
    agents = [f"agent-{i}" for i in range(WRITERS * 4)]
    with ThreadPoolExecutor(WRITERS) as pool:
        added = list(pool.map(lambda a: store.add_feedback(Feedback(complaint_id=complaint_id, agent_id=a)), agents))
    assert all(added)
    complaint, _, feedback = store.complaint(complaint_id)
    assert sorted(f.agent_id for f in feedback) == sorted(agents) and complaint.status == "corrected"


def test_concurrent_strategy_writes_keep_one_newest_record_per_role(store):
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda v: store.set_strategy("teller", f"v{v % 3}", "canary", 10), range(WRITERS * 4)))
    (canary,) = store.strategy()
    assert canary.role == "canary" and canary.model_version in {"v0", "v1", "v2"}
