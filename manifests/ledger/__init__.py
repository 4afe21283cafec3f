"""The ledger: Cradle's SQL store of clips, stage attempts, runs, reviews and shard membership.

The only package that touches SQLAlchemy; everything else asks a `Ledger` for what it needs.
"""

from __future__ import annotations

from manifests.ledger.access import AccessQueries, AuditEntry, User
from manifests.ledger.attempts import Attempt, AttemptQueries, StatusCount
from manifests.ledger.clips import ClipQueries
from manifests.ledger.reviews import (
    Decision,
    Review,
    ReviewQueries,
    ReviewReason,
    StaleVerdict,
    review_reason,
)
from manifests.ledger.runs import RunQueries
from manifests.ledger.shards import ShardQueries
from manifests.ledger.store import safe_url

__all__ = ["Attempt", "AuditEntry", "Decision", "Ledger", "Review", "ReviewReason",
           "StaleVerdict", "StatusCount", "User", "review_reason", "safe_url"]


class Ledger(ClipQueries, AttemptQueries, RunQueries, ReviewQueries, ShardQueries,
             AccessQueries):
    """Reads and writes the ledger. One instance per process; thread-safe through its sessions."""

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Ledger:
        """Opens the ledger at `url`, creating and migrating its schema unless told not to."""
        ledger = cls(url)
        if migrate:
            ledger.migrate()
        return ledger
