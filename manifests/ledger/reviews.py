"""Reviews: annotators' decisions, append-only (database triggers refuse UPDATE and DELETE).

A decision answers one verdict: the latest attempt of one stage on one clip. It is recorded only
if that verdict and the clip's review history are still what the annotator's page showed
(optimistic locking), so two annotators deciding at once never overwrite each other silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manifests.errors import LedgerError
from manifests.ledger.store import LedgerStore, utc
from manifests.ledger.tables import ClipRow, ReviewRow, StageResultRow
from manifests.outcomes import ReasonCode


class Decision(StrEnum):
    """What an annotator can say about a verdict, and what the next curate run does with it."""

    CONFIRM = "confirm"  # the verdict stands, for good
    OVERRIDE = "override"  # the verdict is flipped: a rejection passes, an acceptance is dropped
    REQUEUE = "requeue"  # the stage runs on the clip again in the next run

    @property
    def description(self) -> str:
        return {
            Decision.CONFIRM: "confirmed the verdict",
            Decision.OVERRIDE: "overrode the verdict",
            Decision.REQUEUE: "sent the clip back for a re-run",
        }[self]

    @property
    def effect(self) -> str:
        return {
            Decision.CONFIRM: "none: the verdict is final",
            Decision.OVERRIDE: "a rejection passes, an acceptance is dropped",
            Decision.REQUEUE: "the stage runs on the clip again",
        }[self]


class ReviewReason(StrEnum):
    """Why an annotator overrode a rejection (an overridden acceptance names a `ReasonCode`)."""

    MEASUREMENT_WRONG = "measurement_wrong"
    USABLE_ANYWAY = "usable_anyway"
    PROBLEM_IS_BRIEF = "problem_is_brief"
    OTHER = "other"

    @property
    def description(self) -> str:
        return {
            ReviewReason.MEASUREMENT_WRONG: "The detector misjudged the clip.",
            ReviewReason.USABLE_ANYWAY: "The problem is real, but the clip is usable.",
            ReviewReason.PROBLEM_IS_BRIEF: "The problem is brief; the rest of the clip is good.",
            ReviewReason.OTHER: "Another reason, given in the note.",
        }[self]


def review_reason(value: str | None) -> ReasonCode | ReviewReason | None:
    """Parses a stored or submitted reason: a `ReviewReason`, else a `ReasonCode`.

    Raises:
        ValueError: the value is neither.
    """
    if not value:
        return None
    if value in ReviewReason._value2member_map_:
        return ReviewReason(value)
    return ReasonCode(value)


class StaleVerdict(LedgerError):
    """The verdict or its review history changed since the annotator's page showed it."""


@dataclass(frozen=True)
class Review:
    """One decision on the verdict `stage` gave `clip_id` in its attempt number `attempt`."""

    clip_id: str
    stage: str
    decision: Decision
    annotator: str
    attempt: int | None = None
    reason: ReasonCode | ReviewReason | None = None
    note: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ReviewQueries(LedgerStore):
    """Appending decisions and reading them back."""

    def add_review(self, review: Review) -> None:
        """Appends a decision without checking what it answers (imports, tests); see `decide`."""
        self._write(lambda s: s.add(_row(review)))

    def decide(self, review: Review, seen_reviews: int) -> None:
        """Appends `review` if the clip still stands as the annotator saw it.

        Args:
            review: the decision; `attempt` is the attempt of `review.stage` the page showed.
            seen_reviews: how many reviews of the clip the page showed.

        Raises:
            StaleVerdict: the stage ran again, or someone decided, since the page was loaded;
                nothing was written.
            LedgerError: the clip is not in the ledger.
        """

        def write(session: Session) -> None:
            # Locks the clip (SQLite: the database) so check and append are one step.
            if session.execute(
                select(ClipRow.id).where(ClipRow.id == review.clip_id).with_for_update()
            ).first() is None:
                raise LedgerError(f"clip {review.clip_id!r} is not in the ledger")
            latest = session.scalar(
                select(func.max(StageResultRow.attempt)).where(
                    StageResultRow.clip_id == review.clip_id, StageResultRow.stage == review.stage)
            )
            if latest != review.attempt:
                raise StaleVerdict(
                    f"the {review.stage} verdict on {review.clip_id} changed since this page was "
                    f"loaded (attempt {review.attempt} shown, {latest} now); reload to see it. "
                    "Your decision was not recorded.")
            newest = session.scalars(
                select(ReviewRow).where(ReviewRow.clip_id == review.clip_id)
                .order_by(ReviewRow.id.desc())
            ).all()
            if len(newest) != seen_reviews:
                last = newest[0]
                raise StaleVerdict(
                    f"{last.annotator} decided '{last.decision}' on {review.clip_id} at "
                    f"{utc(last.created_at):%Y-%m-%d %H:%M:%S} UTC, after this page was loaded; "
                    "reload to see it. Your decision was not recorded.")
            session.add(_row(review))

        self._write(write)

    def reviews(self, clip_id: str) -> list[Review]:
        """A clip's decisions, oldest first."""
        with self.session() as session:
            rows = session.scalars(
                select(ReviewRow).where(ReviewRow.clip_id == clip_id).order_by(ReviewRow.id))
            return [_review(row) for row in rows]

    def all_reviews(self, clip_ids: Sequence[str] | None = None) -> list[Review]:
        """Every decision (or those on the clips named), oldest first."""
        with self.session() as session:
            query = select(ReviewRow).order_by(ReviewRow.id)
            if clip_ids is not None:
                query = query.where(ReviewRow.clip_id.in_(list(clip_ids)))
            return [_review(row) for row in session.scalars(query)]

def decisions_answering(session: Session, stage: str, clip_ids: Sequence[str] | None
                        ) -> dict[tuple[str, int], Decision]:
    """The newest decision per (clip, attempt) of `stage`: what the resume rule reads."""
    query = select(ReviewRow.clip_id, ReviewRow.attempt, ReviewRow.decision).where(
        ReviewRow.stage == stage, ReviewRow.attempt.is_not(None)).order_by(ReviewRow.id)
    if clip_ids is not None:
        query = query.where(ReviewRow.clip_id.in_(list(clip_ids)))
    return {(clip_id, attempt): Decision(decision)
            for clip_id, attempt, decision in session.execute(query)}


def _row(review: Review) -> ReviewRow:
    return ReviewRow(clip_id=review.clip_id, stage=review.stage, decision=review.decision.value,
                     attempt=review.attempt,
                     reason_code=review.reason.value if review.reason else None,
                     note=review.note, annotator=review.annotator, created_at=review.created_at)


def _review(row: ReviewRow) -> Review:
    return Review(clip_id=row.clip_id, stage=row.stage, decision=Decision(row.decision),
                  annotator=row.annotator, attempt=row.attempt,
                  reason=review_reason(row.reason_code),
                  note=row.note, created_at=utc(row.created_at))
