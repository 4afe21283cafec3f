"""Runs: one row per flow run, so every attempt and export names the run that made it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from manifests.ledger.store import LedgerStore
from manifests.ledger.tables import RunRow


def run_clock(now: datetime | None = None) -> str:
    """The time part that begins a run id: ids begun at or after `now` sort at or after it."""
    return f"{now or datetime.now(UTC):%Y%m%dT%H%M%SZ}"


class RunQueries(LedgerStore):
    """Opening, closing and finding runs."""

    def start_run(self, flow: str, params: dict[str, Any] | None = None) -> str:
        """Opens a run record and returns its id (time-ordered, so ids sort by start)."""
        now = datetime.now(UTC)
        run_id = f"{run_clock(now)}-{uuid.uuid4().hex[:8]}"
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

    def close_abandoned_runs(self, keep: str | None = None) -> dict[str, dict[str, Any]]:
        """Marks `crashed` every run still `running` but `keep`: its process died (a kill, a lost
        machine). Call only while holding the data root's lock, when no other run is live.

        Returns:
            The params of the runs closed by run id, oldest first.
        """

        def write(session: Session) -> dict[str, dict[str, Any]]:
            rows = session.execute(select(RunRow.id, RunRow.params)
                                   .where(RunRow.status == "running", RunRow.id != (keep or ""))
                                   .order_by(RunRow.started_at)).all()
            if rows:
                session.execute(update(RunRow).where(RunRow.id.in_([r.id for r in rows]))
                                .values(status="crashed", finished_at=datetime.now(UTC)))
            return {row.id: dict(row.params or {}) for row in rows}

        return self._write(write)

    def latest_run_id(self) -> str | None:
        with self.session() as session:
            return session.scalar(select(RunRow.id).order_by(RunRow.started_at.desc()).limit(1))
