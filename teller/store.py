"""The audit store: complaints (masked text only), every model decision, model strategy and agents' feedback.

SQLAlchemy, so any database URL works (SQLite locally, Postgres in the chart); the schema is managed by
Alembic migrations in `teller/migrations`. Each write commits before the caller returns a response.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Complaint(Base):
    __tablename__ = "complaints"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    narrative: Mapped[str] = mapped_column(Text, doc="PII-masked narrative; the raw text is never stored.")
    product: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(50))
    queue: Mapped[str] = mapped_column(String(50), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    allocations: Mapped[list[Allocation]] = relationship(back_populates="complaint", order_by="Allocation.id")
    feedback: Mapped[list[Feedback]] = relationship(back_populates="complaint", order_by="Feedback.id")


class Allocation(Base):
    """One model decision on a complaint, with the model that made it."""

    __tablename__ = "allocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100))
    issue: Mapped[str] = mapped_column(String(200))
    vulnerable: Mapped[bool] = mapped_column(Boolean)
    probabilities: Mapped[dict] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    complaint: Mapped[Complaint] = relationship(back_populates="allocations")


class ModelStrategy(Base):
    """Which model version serves which share of traffic (champion, canary)."""

    __tablename__ = "model_strategy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    traffic_percent: Mapped[int] = mapped_column(Integer, default=100)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Feedback(Base):
    """An agent's correction of a decision; exported for retraining."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    agent_id: Mapped[str] = mapped_column(String(100))
    team: Mapped[str | None] = mapped_column(String(100))
    issue: Mapped[str | None] = mapped_column(String(200))
    vulnerable: Mapped[bool | None] = mapped_column(Boolean)
    complaint: Mapped[Complaint] = relationship(back_populates="feedback")


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema with Alembic."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


def _sqlite_wal(connection, _record) -> None:
    """Write-ahead log: the agent console's reads never block decisions being stored, and a commit costs one
    fsync instead of several (a third of the time); synchronous=FULL keeps every commit durable."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")


class Store:
    """Typed reads and writes over the audit tables."""

    def __init__(self, url: str, migrate: bool = True) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if migrate:
            upgrade(url)
        self.engine = create_engine(url, pool_pre_ping=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_wal)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def record_decisions(self, complaints: list[Complaint], allocations: list[Allocation]) -> None:
        """Store complaints and their decisions in one transaction."""
        with self.session() as s:
            s.add_all(complaints)
            s.flush()
            s.add_all(allocations)

    def complaints(self, queue: str | None = None, status: str | None = None, limit: int = 100) -> list[Complaint]:
        query = (
            select(Complaint)
            .options(selectinload(Complaint.allocations), selectinload(Complaint.feedback))
            .order_by(Complaint.created_at.desc())
            .limit(limit)
        )
        if queue:
            query = query.where(Complaint.queue == queue)
        if status:
            query = query.where(Complaint.status == status)
        with self.session() as s:
            return list(s.scalars(query))

    def complaint(self, complaint_id: str) -> tuple[Complaint, list[Allocation], list[Feedback]] | None:
        with self.session() as s:
            found = s.get(Complaint, complaint_id)
            if found is None:
                return None
            return found, list(found.allocations), list(found.feedback)

    def stored_ids(self, ids: list[str]) -> set[str]:
        """Which of these complaint ids are already stored (a replayed stream record is not decided twice)."""
        with self.session() as s:
            return set(s.scalars(select(Complaint.id).where(Complaint.id.in_(ids))))

    def add_feedback(self, feedback: Feedback) -> bool:
        """Record a correction; False if the complaint does not exist."""
        with self.session() as s:
            found = s.get(Complaint, feedback.complaint_id)
            if found is None:
                return False
            s.add(feedback)
            found.status = "corrected"
            return True

    def set_strategy(self, model_name: str, version: str, role: str = "champion", traffic: int = 100) -> None:
        """Record which version serves which share of traffic, unless that is already the newest record."""
        with self.session() as s:
            newest = s.scalars(
                select(ModelStrategy).where(ModelStrategy.role == role).order_by(ModelStrategy.id.desc()).limit(1)
            ).first()
            if newest and (newest.model_name, newest.model_version, newest.traffic_percent) == (
                model_name,
                version,
                traffic,
            ):
                return
            s.add(ModelStrategy(model_name=model_name, model_version=version, role=role, traffic_percent=traffic))

    def strategy(self) -> list[ModelStrategy]:
        """The newest record per role."""
        with self.session() as s:
            rows = s.scalars(select(ModelStrategy).order_by(ModelStrategy.id)).all()
            return list({r.role: r for r in rows}.values())

    def recent_allocations(self, limit: int) -> list[Allocation]:
        """The newest `limit` decisions."""
        with self.session() as s:
            return list(s.scalars(select(Allocation).order_by(Allocation.id.desc()).limit(limit)))

    def corrections(self) -> list[tuple[Complaint, Feedback, Allocation]]:
        """Every feedback row with its complaint and the newest decision on it, oldest first."""
        with self.session() as s:
            rows = s.execute(select(Complaint, Feedback).join(Feedback).order_by(Feedback.id))
            return [(c, f, c.allocations[-1]) for c, f in rows]
