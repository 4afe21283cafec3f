"""Runs one stage over many clips: one Prefect task per batch, results recorded in the ledger.

A batch (not a clip) is the unit of Prefect work, so models load once per batch and thousands of
clips never become thousands of tiny tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff

from flows.progress import StageProgress
from manifests.errors import TransientLedgerError
from manifests.ledger import Ledger
from manifests.outcomes import StageResult
from manifests.records import Clip
from stages.contract import RunContext, StageSpec, execute_batch

_TRANSIENT = (TransientLedgerError, ConnectionError, TimeoutError)


def only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a batch only for faults that pass (a locked or unreachable ledger), never for a bug
    or bad data."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, _TRANSIENT)


@task(cache_policy=NO_CACHE, task_run_name="{stage.name}-batch-{index}", retries=2,
      retry_delay_seconds=exponential_backoff(10), retry_jitter_factor=0.5,
      retry_condition_fn=only_transient)
def stage_batch(stage: StageSpec, index: int, clips: list[Clip],
                ctx: RunContext) -> list[StageResult]:
    """One batch of one stage; the ledger, not Prefect's cache, decides what is already done."""
    ledger = Ledger(ctx.ledger_url)
    try:
        return execute_batch(stage, clips, ctx, ledger)
    finally:
        ledger.close()


def run_stage(stage: StageSpec, clips: Sequence[Clip], ctx: RunContext) -> dict[str, Any]:
    """Runs `stage` over `clips` in batches of `run.batch_size`; call from a flow.

    Batches are submitted at once (the task runner bounds concurrency), or at most
    `stage.parallel_batches` at a time. Once `stage.halted` names a reason, no further batch is
    scheduled: those clips stay pending for the next run.

    Returns:
        This run's counts by status, plus `deferred` (tried later), `skipped` (already settled),
        `unscheduled` (left by a halt) and `halted` (its reason) where they apply.
    """
    size = ctx.cfg.run.batch_size
    batches = [list(clips[start:start + size]) for start in range(0, len(clips), size)]
    totals: Counter[str] = Counter()
    in_flight: list[tuple[int, PrefectFuture[list[StageResult]]]] = []
    halted = None
    progress = StageProgress(stage.name, len(clips))
    tagged = stage_batch.with_options(tags={stage.device})  # cpu or gpu, for routing
    for index, batch in enumerate(batches):
        halted = stage.halted(ctx) if stage.halted else None
        if halted is not None:
            totals["unscheduled"] = sum(len(b) for b in batches[index:])
            break
        in_flight.append((len(batch), tagged.submit(stage, index, batch, ctx)))
        if stage.parallel_batches and len(in_flight) >= stage.parallel_batches:
            given, future = in_flight.pop(0)
            totals.update(count_outcomes(future.result(), given))
            progress.advance(given)
    for given, future in in_flight:
        totals.update(count_outcomes(future.result(), given))
        progress.advance(given)
    halted = halted or (stage.halted(ctx) if stage.halted else None)
    summary: dict[str, Any] = dict(totals)
    if halted is not None:
        get_run_logger().warning("%s halted: %s; the clips left wait for the next run",
                                 stage.name, halted)
        summary["halted"] = halted
    return summary


def count_outcomes(results: Sequence[StageResult], given: int) -> Counter[str]:
    """This run's outcomes by status; `deferred` = left pending, `skipped` = already settled."""
    counts = Counter("deferred" if r.deferred else r.status.value for r in results)
    counts["skipped"] = given - len(results)
    return counts


def passed(ledger: Ledger, clips: Sequence[Clip], stage: str) -> list[Clip]:
    """The clips whose latest attempt at `stage` is ok: the input of the next stage."""
    ok = set(ledger.passed(stage, [clip.id for clip in clips]))
    return [clip for clip in clips if clip.id in ok]
