"""Stage attempts: one appended row per stage run on a clip, and the queries resume relies on."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manifests.errors import LedgerError
from manifests.ledger.reviews import Decision, decisions_answering
from manifests.ledger.store import LedgerStore, utc
from manifests.ledger.tables import ClipRow, StageResultRow
from manifests.outcomes import PIPELINE_STAGES, ReasonCode, StageResult, Status


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
    review: Decision | None = None  # the newest annotator decision on this attempt

    @property
    def passed(self) -> bool:
        """Whether the clip goes on past this stage: `ok`, or `rejected`, flipped by an override."""
        if self.status not in (Status.OK, Status.REJECTED):
            return False
        return (self.status is Status.OK) != (self.review is Decision.OVERRIDE)

    def output(self, role: str, home: Path) -> Path | None:
        """Where the attempt's `role` output is. The ledger names outputs relative to the data
        root `home` (so no local path leaks into exports, and a data root can move); older
        ledgers hold absolute paths, which are taken as they are."""
        recorded = self.outputs.get(role)
        if not recorded:
            return None
        path = Path(recorded)
        return path if path.is_absolute() else Path(home) / path

    @classmethod
    def from_row(cls, row: StageResultRow, review: Decision | None = None) -> Attempt:
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
            started_at=utc(row.started_at),
            finished_at=utc(row.finished_at),
            worker=row.worker,
            run_id=row.run_id,
            review=review,
        )


@dataclass(frozen=True)
class StatusCount:
    """How many clips stand at one (stage, status, reason) after their latest attempt."""

    stage: str
    status: str  # a Status value, or "pending" for clips with no attempt at this stage
    reason: str | None
    clips: int


def default_worker() -> str:
    """Names the writing process; host and pid only, nothing personal."""
    return f"{socket.gethostname()}:{os.getpid()}"


class AttemptQueries(LedgerStore):
    """Appending attempts and reading back the latest one per clip."""

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

    def run_attempts(self, run_id: str) -> list[Attempt]:
        """Every attempt one run recorded, in pipeline order, then by clip: its report's rows."""
        with self.session() as session:
            rows = session.scalars(select(StageResultRow).where(StageResultRow.run_id == run_id)
                                   .order_by(StageResultRow.clip_id, StageResultRow.attempt))
            attempts = [Attempt.from_row(row) for row in rows]
        return sorted(attempts, key=lambda a: (
            PIPELINE_STAGES.index(a.stage) if a.stage in PIPELINE_STAGES else 99, a.clip_id))

    def latest(self, stage: str, clip_ids: Sequence[str] | None = None) -> dict[str, Attempt]:
        """The newest attempt of `stage` per clip, for the clips named (or all), with the newest
        review decision that answers it."""
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
            rows = list(session.scalars(query))
            decisions = decisions_answering(session, stage, clip_ids)
            return {row.clip_id: Attempt.from_row(row, decisions.get((row.clip_id, row.attempt)))
                    for row in rows}

    def passed(self, stage: str, clip_ids: Sequence[str]) -> list[str]:
        """The clips (of those named, in their order) that go on past `stage`: their latest
        attempt is ok, or a rejection a reviewer overrode (`Attempt.passed`)."""
        latest = self.latest(stage, clip_ids)
        return [cid for cid in clip_ids if cid in latest and latest[cid].passed]

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
        waiting = {s: total - n for s, n in seen.items() if s not in PIPELINE_STAGES[1:]}
        waiting |= self._eligible_untried()
        return counts + [StatusCount(s, "pending", None, n) for s, n in waiting.items() if n > 0]

    def _eligible_untried(self) -> dict[str, int]:
        """Per pipeline stage after the first: clips that passed the stage before (reviews
        counted) and have no attempt here. A clip that failed its download is not pending for
        the audio stage: nothing will ever run it there."""
        waiting: dict[str, int] = {}
        registered = self.latest(PIPELINE_STAGES[0])
        # A clip in the ledger with no `sources` outcome (added directly) is registered.
        with self.session() as session:
            clip_ids = set(session.scalars(select(ClipRow.id)))
        passed = {clip_id for clip_id in clip_ids
                  if clip_id not in registered or registered[clip_id].passed}
        for stage in PIPELINE_STAGES[1:]:
            here = self.latest(stage)
            waiting[stage] = len(passed - set(here))
            passed = {clip_id for clip_id, attempt in here.items() if attempt.passed}
        return waiting
