"""Registered clips: what the ledger knows of each source segment before any media exists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manifests.ledger.store import LedgerStore
from manifests.ledger.tables import ClipRow
from manifests.records import Clip


class ClipQueries(LedgerStore):
    """Registering clips and reading them back."""

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

    def clip_count(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(ClipRow)) or 0


def _clip_row(clip: Clip, now: datetime) -> ClipRow:
    return ClipRow(id=clip.id, url=clip.url, start_s=clip.start_s, end_s=clip.end_s,
                   labels=list(clip.labels), split_group=clip.split_group, source=clip.source,
                   meta=clip.meta, created_at=now)


def _clip(row: ClipRow) -> Clip:
    return Clip(id=row.id, url=row.url, start_s=row.start_s, end_s=row.end_s,
                labels=tuple(row.labels or ()), split_group=row.split_group, source=row.source,
                meta=dict(row.meta or {}))
