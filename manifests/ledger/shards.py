"""Shard membership: which shards each dataset version holds and which clips are in them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manifests.ledger.store import LedgerStore
from manifests.ledger.tables import ShardMemberRow, ShardRow


class ShardQueries(LedgerStore):
    """Recording finished shards and asking what a dataset version holds."""

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

    def dataset_versions(self, dataset: str) -> list[str]:
        """Every version of `dataset` the ledger recorded a shard for, sorted."""
        with self.session() as session:
            return sorted(session.scalars(
                select(ShardRow.version).where(ShardRow.dataset == dataset).distinct()))

    def shard_hashes(self, dataset: str, version: str) -> dict[str, str]:
        """The recorded sha256 of each shard of one version, by shard name."""
        with self.session() as session:
            rows = session.execute(select(ShardRow.name, ShardRow.sha256).where(
                ShardRow.dataset == dataset, ShardRow.version == version)).all()
        return {name: sha for name, sha in rows}

    def samples_per_clip(self, dataset: str, version: str) -> dict[str, int]:
        """How many samples each clip has in one version of a dataset."""
        with self.session() as session:
            rows = session.execute(
                select(ShardMemberRow.clip_id, func.count())
                .join(ShardRow, ShardRow.id == ShardMemberRow.shard_id)
                .where(ShardRow.dataset == dataset, ShardRow.version == version)
                .group_by(ShardMemberRow.clip_id)).all()
        return {clip_id: count for clip_id, count in rows}
