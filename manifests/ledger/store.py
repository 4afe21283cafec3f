"""The ledger: Cradle's SQL store of clips, stage attempts, reviews, shards and runs.

SQLite (WAL mode) by default, PostgreSQL by URL when several machines share one ledger. Writers
never lose a result and never create two attempts with one number: each write takes a lock (the
whole database on SQLite via `BEGIN IMMEDIATE`, the clip's row on PostgreSQL via
`SELECT … FOR UPDATE`) and a unique constraint backs it up.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from manifests.errors import LedgerError
from manifests.ledger.tables import (
    ClipRow,
    ReviewRow,
    RunRow,
    ShardMemberRow,
    ShardRow,
    StageResultRow,
)
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE_TRIES = 8  # lock conflicts (deadlock, busy) are retried this often before giving up


@dataclass(frozen=True)
class Attempt:
    """One recorded attempt of one stage on one clip, as read back from the ledger."""

    clip_id: str
    stage: str
    stage_version: str
    config_hash: str
    attempt: int
    status: Status
    reason: ReasonCode | None
    metrics: dict[str, Any]
    outputs: dict[str, str]
    started_at: datetime
    finished_at: datetime
    worker: str
    run_id: str | None

    @classmethod
    def from_row(cls, row: StageResultRow) -> Attempt:
        return cls(
            clip_id=row.clip_id,
            stage=row.stage,
            stage_version=row.stage_version,
            config_hash=row.config_hash,
            attempt=row.attempt,
            status=Status(row.status),
            reason=ReasonCode(row.reason_code) if row.reason_code else None,
            metrics=dict(row.metrics or {}),
            outputs=dict(row.outputs or {}),
            started_at=_utc(row.started_at),
            finished_at=_utc(row.finished_at),
            worker=row.worker,
            run_id=row.run_id,
        )


@dataclass(frozen=True)
class StatusCount:
    """How many clips stand at one (stage, status, reason) after their latest attempt."""

    stage: str
    status: str  # a Status value, or "pending" for clips with no attempt at this stage
    reason: str | None
    clips: int


@dataclass(frozen=True)
class Review:
    clip_id: str
    stage: str
    decision: str
    annotator: str
    reason: ReasonCode | None = None
    note: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def default_worker() -> str:
    """Names the writing process; host and pid only, nothing personal."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Ledger:
    """Reads and writes the ledger. One instance per process; thread-safe through its sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Ledger:
        """Opens the ledger at `url`, creating and migrating its schema unless told not to."""
        ledger = cls(url)
        if migrate:
            ledger.migrate()
        return ledger

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Brings the schema to the newest Alembic revision; safe to call from several processes."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except DBAPIError as e:
            raise LedgerError(f"cannot migrate the ledger at {self.safe_url}: {e.orig}") from e

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs and error messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    # -- clips ---------------------------------------------------------------------------------

    def add_clips(self, clips: Iterable[Clip]) -> list[str]:
        """Registers clips that are new to the ledger; known ids are left untouched.

        Returns:
            The ids of the clips added, sorted.
        """
        wanted = {clip.id: clip for clip in clips}
        if not wanted:
            return []

        def write(session: Session) -> list[str]:
            known = set(session.scalars(select(ClipRow.id).where(ClipRow.id.in_(list(wanted)))))
            now = datetime.now(UTC)
            new = [clip for clip_id, clip in sorted(wanted.items()) if clip_id not in known]
            session.add_all(_clip_row(clip, now) for clip in new)
            return [clip.id for clip in new]

        return self._write(write)

    def clips(self, ids: Sequence[str] | None = None) -> list[Clip]:
        """Returns registered clips sorted by id, all of them or those named."""
        with self.session() as session:
            query = select(ClipRow).order_by(ClipRow.id)
            if ids is not None:
                query = query.where(ClipRow.id.in_(list(ids)))
            return [_clip(row) for row in session.scalars(query)]

    # -- stage attempts ------------------------------------------------------------------------

    def record(
        self,
        stage: str,
        stage_version: str,
        config_hash: str,
        results: Sequence[StageResult],
        *,
        started_at: datetime,
        finished_at: datetime | None = None,
        worker: str | None = None,
        run_id: str | None = None,
    ) -> list[int]:
        """Appends one attempt row per result, numbering attempts per (clip, stage).

        All results of a batch land in one transaction: either every one is recorded or none.

        Returns:
            The attempt number given to each result, in the order of `results`.

        Raises:
            LedgerError: a result names a clip that is not registered.
        """
        finished_at = finished_at or datetime.now(UTC)
        worker = worker or default_worker()
        # Locking clips in sorted order means two batches never wait on each other in a cycle.
        order = sorted(range(len(results)), key=lambda i: results[i].clip_id)

        def write(session: Session) -> list[int]:
            numbers = [0] * len(results)
            for index in order:
                result = results[index]
                if session.execute(
                    select(ClipRow.id).where(ClipRow.id == result.clip_id).with_for_update()
                ).first() is None:
                    raise LedgerError(f"clip {result.clip_id!r} is not in the ledger; add it first")
                last = session.scalar(
                    select(func.max(StageResultRow.attempt)).where(
                        StageResultRow.clip_id == result.clip_id, StageResultRow.stage == stage
                    )
                )
                numbers[index] = (last or 0) + 1
                session.add(
                    StageResultRow(
                        clip_id=result.clip_id,
                        stage=stage,
                        stage_version=stage_version,
                        config_hash=config_hash,
                        status=result.status.value,
                        reason_code=result.reason.value if result.reason else None,
                        metrics=result.metrics,
                        outputs={role: str(path) for role, path in result.outputs.items()},
                        started_at=started_at,
                        finished_at=finished_at,
                        attempt=numbers[index],
                        worker=worker,
                        run_id=run_id,
                    )
                )
                session.flush()
            return numbers

        return self._write(write)

    def attempts(self, clip_id: str, stage: str | None = None) -> list[Attempt]:
        """Every attempt for a clip, oldest first."""
        with self.session() as session:
            query = select(StageResultRow).where(StageResultRow.clip_id == clip_id)
            if stage is not None:
                query = query.where(StageResultRow.stage == stage)
            query = query.order_by(StageResultRow.stage, StageResultRow.attempt)
            return [Attempt.from_row(row) for row in session.scalars(query)]

    def latest(self, stage: str, clip_ids: Sequence[str] | None = None) -> dict[str, Attempt]:
        """The newest attempt of `stage` per clip, for the clips named (or all)."""
        with self.session() as session:
            newest = (
                select(StageResultRow.clip_id, func.max(StageResultRow.attempt).label("attempt"))
                .where(StageResultRow.stage == stage)
                .group_by(StageResultRow.clip_id)
            )
            if clip_ids is not None:
                newest = newest.where(StageResultRow.clip_id.in_(list(clip_ids)))
            sub = newest.subquery()
            query = select(StageResultRow).join(
                sub,
                (StageResultRow.clip_id == sub.c.clip_id)
                & (StageResultRow.attempt == sub.c.attempt)
                & (StageResultRow.stage == stage),
            )
            return {row.clip_id: Attempt.from_row(row) for row in session.scalars(query)}

    def latest_ok(
        self, clip_id: str, stage: str, stage_version: str, config_hash: str
    ) -> Attempt | None:
        """The newest `ok` attempt made with this stage version and configuration, if any."""
        with self.session() as session:
            row = session.scalars(
                select(StageResultRow)
                .where(
                    StageResultRow.clip_id == clip_id,
                    StageResultRow.stage == stage,
                    StageResultRow.stage_version == stage_version,
                    StageResultRow.config_hash == config_hash,
                    StageResultRow.status == Status.OK.value,
                )
                .order_by(StageResultRow.attempt.desc())
                .limit(1)
            ).first()
            return Attempt.from_row(row) if row else None

    def status_counts(self) -> list[StatusCount]:
        """Clips per stage by the status and reason of their latest attempt, plus pending ones."""
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(ClipRow)) or 0
            newest = (
                select(
                    StageResultRow.clip_id,
                    StageResultRow.stage,
                    func.max(StageResultRow.attempt).label("attempt"),
                )
                .group_by(StageResultRow.clip_id, StageResultRow.stage)
                .subquery()
            )
            rows = session.execute(
                select(
                    StageResultRow.stage,
                    StageResultRow.status,
                    StageResultRow.reason_code,
                    func.count(),
                )
                .join(
                    newest,
                    (StageResultRow.clip_id == newest.c.clip_id)
                    & (StageResultRow.stage == newest.c.stage)
                    & (StageResultRow.attempt == newest.c.attempt),
                )
                .group_by(StageResultRow.stage, StageResultRow.status, StageResultRow.reason_code)
            ).all()
        counts = [StatusCount(stage, status, reason, n) for stage, status, reason, n in rows]
        seen: dict[str, int] = {}
        for count in counts:
            seen[count.stage] = seen.get(count.stage, 0) + count.clips
        counts += [StatusCount(s, "pending", None, total - n) for s, n in seen.items() if n < total]
        return counts

    def clip_count(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(ClipRow)) or 0

    # -- runs ----------------------------------------------------------------------------------

    def start_run(self, flow: str, params: dict[str, Any] | None = None) -> str:
        """Opens a run record and returns its id (time-ordered, so ids sort by start)."""
        now = datetime.now(UTC)
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self._write(
            lambda s: s.add(RunRow(id=run_id, flow=flow, params=params or {}, status="running",
                                   started_at=now))
        )
        return run_id

    def finish_run(self, run_id: str, status: str = "completed") -> None:
        self._write(
            lambda s: s.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(status=status, finished_at=datetime.now(UTC))
            )
        )

    def latest_run_id(self) -> str | None:
        with self.session() as session:
            return session.scalar(select(RunRow.id).order_by(RunRow.started_at.desc()).limit(1))

    # -- reviews and shards --------------------------------------------------------------------

    def add_review(self, review: Review) -> None:
        """Appends an annotator's decision; reviews are never changed or deleted."""
        self._write(
            lambda s: s.add(
                ReviewRow(
                    clip_id=review.clip_id,
                    stage=review.stage,
                    decision=review.decision,
                    reason_code=review.reason.value if review.reason else None,
                    note=review.note,
                    annotator=review.annotator,
                    created_at=review.created_at,
                )
            )
        )

    def reviews(self, clip_id: str) -> list[Review]:
        with self.session() as session:
            rows = session.scalars(
                select(ReviewRow).where(ReviewRow.clip_id == clip_id).order_by(ReviewRow.id)
            )
            return [
                Review(
                    clip_id=row.clip_id,
                    stage=row.stage,
                    decision=row.decision,
                    annotator=row.annotator,
                    reason=ReasonCode(row.reason_code) if row.reason_code else None,
                    note=row.note,
                    created_at=_utc(row.created_at),
                )
                for row in rows
            ]

    def add_shard(
        self,
        dataset: str,
        version: str,
        name: str,
        sha256: str,
        size_bytes: int,
        members: Sequence[tuple[str, str]],
    ) -> None:
        """Records a finished shard and its (sample key, clip id) members in one transaction."""

        def write(session: Session) -> None:
            shard = ShardRow(dataset=dataset, version=version, name=name, sha256=sha256,
                             samples=len(members), size_bytes=size_bytes,
                             created_at=datetime.now(UTC))
            session.add(shard)
            session.flush()
            session.add_all(
                ShardMemberRow(shard_id=shard.id, sample_key=key, clip_id=clip_id)
                for key, clip_id in members
            )

        self._write(write)

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction on the ledger: commits on success, rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def _write(self, work: Any) -> Any:
        """Runs `work(session)` in one transaction; retries lock conflicts with jittered backoff."""
        for tries in range(1, _WRITE_TRIES + 1):
            try:
                with self.session() as session:
                    return work(session)
            except (OperationalError, IntegrityError) as e:
                if tries == _WRITE_TRIES or not _is_lock_conflict(e):
                    raise LedgerError(f"ledger write failed at {self.safe_url}: {e.orig}") from e
                log.debug("ledger write conflict (try %d): %s", tries, e.orig)
                time.sleep(min(2.0, 0.02 * 2**tries) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")


def _is_lock_conflict(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    conflict_words = ("locked", "busy", "deadlock", "could not serialize", "uq_stage_results")
    return any(word in text for word in conflict_words)


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that `begin` below can take the write lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Taking the write lock up front turns read-then-write races into a queue.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _clip_row(clip: Clip, now: datetime) -> ClipRow:
    return ClipRow(id=clip.id, url=clip.url, start_s=clip.start_s, end_s=clip.end_s,
                   labels=list(clip.labels), split_group=clip.split_group, source=clip.source,
                   meta=clip.meta, created_at=now)


def _clip(row: ClipRow) -> Clip:
    return Clip(id=row.id, url=row.url, start_s=row.start_s, end_s=row.end_s,
                labels=tuple(row.labels or ()), split_group=row.split_group, source=row.source,
                meta=dict(row.meta or {}))


def _utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything Cradle writes is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
