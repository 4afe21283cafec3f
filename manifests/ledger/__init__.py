"""The ledger: Cradle's SQL store of clips, stage attempts, runs, reviews and shard membership.

The only package that touches SQLAlchemy; everything else asks the `Ledger` for what it needs.
"""

from manifests.ledger.store import Attempt, Ledger, Review, StatusCount

__all__ = ["Attempt", "Ledger", "Review", "StatusCount"]
