"""Ingest wiring: register the run's clips, then download them in batches like any other stage.

Wiring only. Per-clip faults are values recorded by `execute_batch`; a task fails only for
environment trouble (the ledger's database, the data root), and is retried only when that trouble
can pass. Once the run's circuit breaker is open (429 or bot check), no further batch is scheduled
and the clips not tried stay pending for the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import get_run_logger, task

from flows.batches import run_stage
from manifests.ledger import Ledger
from manifests.records import Clip
from stages.contract import RunContext
from stages.download import stage as download
from stages.sources.stage import register_clips


@task
def register_sources(ctx: RunContext, clips: list[Clip]) -> int:
    """Adds the clips new to the ledger (known ones are untouched); returns how many were new."""
    ledger = Ledger(ctx.ledger_url)
    try:
        return len(register_clips(ledger, clips, run_id=ctx.run_id))
    finally:
        ledger.close()


def download_clips(clips: Sequence[Clip], ctx: RunContext) -> dict[str, Any]:
    """Downloads every clip not yet done; call from a flow.

    Returns:
        Counts (`ok`, `failed`, `retry`, `deferred`, `skipped` = already done, `unscheduled` =
        left for the next run by the breaker), `halted` (the breaker's reason) once it opened,
        and `breaker`: its full record, or None.
    """
    summary = run_stage(download.STAGE, clips, ctx)
    state = download.breaker_state(ctx.root, ctx.run_id) if ctx.run_id else None
    if state is not None:
        get_run_logger().warning("downloads stopped by the circuit breaker: %s on %s at %s",
                                 state.reason.value, state.clip_id, state.opened_at)
    return {**summary, "breaker": state.to_dict() if state else None}
