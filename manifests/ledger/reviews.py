"""Reviews: annotators' decisions, append-only (database triggers refuse UPDATE and DELETE)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from manifests.ledger.store import LedgerStore, utc
from manifests.ledger.tables import ReviewRow
from manifests.outcomes import ReasonCode


@dataclass(frozen=True)
class Review:
    clip_id: str
    stage: str
    decision: str
    annotator: str
    reason: ReasonCode | None = None
    note: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ReviewQueries(LedgerStore):
    """Appending decisions and reading a clip's history."""

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
                    created_at=utc(row.created_at),
                )
                for row in rows
            ]
