"""The nightly flow: ingest, curate, build the shards, train and evaluate when the dataset has
grown enough, apply retention, report; in one run.

Wiring only: each task wraps one library call; stages themselves never import Prefect. The same
steps run alone as the `ingest`, `curate` and `build-shards` flows.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prefect import flow, task

from flows.curate import build_shards, curate_clips
from flows.ingest import take_in
from flows.params import NightlyParams
from flows.report import publish_report
from flows.session import run_session
from flows.training import nightly_training
from manifests.ledger import Ledger
from stages.contract import RunContext
from stages.download.retention import purge_raw_media

__all__ = ["NightlyParams", "nightly"]


@task
def apply_retention(ctx: RunContext) -> dict[str, Any]:
    """Deletes the raw downloads the retention policy (`storage.raw_media`) says are due."""
    ledger = Ledger(ctx.ledger_url)
    try:
        purged = purge_raw_media(ledger, ctx.root, ctx.cfg.storage.raw_media, run_id=ctx.run_id)
    finally:
        ledger.close()
    return {"clips": len(purged), "bytes": sum(p.bytes for p in purged)}


@flow(name="cradle-nightly")
def nightly(params: NightlyParams | None = None) -> dict[str, dict[str, Any]]:
    """Registers the run's sources and curates them, stage by stage; returns counts per stage."""
    params = params or NightlyParams()
    with run_session("nightly", params.model_dump(mode="json")) as session:
        with contextlib.ExitStack() as stack:  # the demo corpus is served while it downloads
            ingested = take_in(session, params, stack)
        summary = ingested.summary | curate_clips(session, ingested.clips)
        summary["shards"] = build_shards(session.ctx, params.dataset)
        if summary["shards"]["dataset"]:
            summary |= nightly_training(session.ctx.cfg, params.dataset, params.demo)
        if session.ctx.cfg.storage.raw_media != "keep":
            summary["retention"] = apply_retention(session.ctx)
        publish_report(session, "nightly", summary, params.dataset)
        return summary
