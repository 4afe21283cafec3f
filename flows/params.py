"""The parameters of Cradle's flows: what Prefect records for each run and shows in its UI.

Plain data only (paths, names, counts): large data stays on disk and in the ledger.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_DATASET = "infant"  # the dataset a run builds when none is named
DEMO_DATASET = "demo"  # the dataset a `--demo` run builds when no `--dataset` is named


class SourceParams(BaseModel):
    """Which clips a run takes in: the demo corpus, source lists, or both."""

    demo: bool = Field(False, description="Curate the offline demo corpus (made if missing).")
    source_lists: list[Path] = Field(
        default_factory=list, description="AudioSet segment CSVs or url,start,end,labels lists."
    )
    limit: int | None = Field(None, ge=1, description="Take at most this many clips, in order.")


class CurateParams(BaseModel):
    """`curate` works on the ledger: every registered clip a curation stage still owes."""

    limit: int | None = Field(None, ge=1, description="Curate at most this many clips.")


class ShardsParams(BaseModel):
    dataset: str = Field(DEFAULT_DATASET, description="The dataset the shards go to.")


class RetryParams(ShardsParams):
    """`retry-failed` re-runs the clips whose latest outcome is `retry`, then the shards."""


class NightlyParams(SourceParams, ShardsParams):
    """The nightly loop: ingest, curate, build the shards, apply retention."""
