"""Runs one stage over many clips: one Prefect task per batch, results recorded in the ledger.

A batch (not a clip) is the unit of Prefect work, so models load once per batch and thousands of
clips never become thousands of tiny tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from sqlalchemy.exc import OperationalError

from manifests.ledger import Ledger
from manifests.outcomes import StageResult, Status
from manifests.records import Clip
from stages.contract import StageSpec, execute_batch
from stages.paths import DataRoot

_TRANSIENT = (OperationalError, ConnectionError, TimeoutError)


def only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a batch only for faults that pass (a database hiccup), never for a bug or bad data."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, _TRANSIENT)


@task(cache_policy=NO_CACHE, task_run_name="{stage.name}-batch-{index}", retries=2,
      retry_delay_seconds=exponential_backoff(10), retry_jitter_factor=0.5,
      retry_condition_fn=only_transient)
def stage_batch(stage: StageSpec, index: int, clips: list[Clip], cfg: Any, config_hash: str,
                home: Path, ledger_url: str, run_id: str) -> list[StageResult]:
    """One batch of one stage; the ledger, not Prefect's cache, decides what is already done."""
    ledger = Ledger(ledger_url)
    try:
        return execute_batch(stage, clips, cfg, config_hash, DataRoot(home), ledger, run_id)
    finally:
        ledger.close()


def run_stage(stage: StageSpec, clips: Sequence[Clip], cfg: Any, config_hash: str,
              root: DataRoot, ledger_url: str, run_id: str, batch_size: int) -> list[StageResult]:
    """Submits every batch at once (the task runner bounds concurrency) and gathers the results."""
    futures = [
        stage_batch.submit(stage, index, list(clips[start:start + batch_size]), cfg, config_hash,
                           root.home, ledger_url, run_id)
        for index, start in enumerate(range(0, len(clips), batch_size))
    ]
    return [result for future in futures for result in future.result()]


def count_outcomes(results: Sequence[StageResult], given: int) -> Counter[str]:
    """This run's outcomes by status; `deferred` = left pending, `skipped` = already settled."""
    counts = Counter("deferred" if r.deferred else r.status.value for r in results)
    counts["skipped"] = given - len(results)
    return counts


def passed(ledger: Ledger, clips: Sequence[Clip], stage: str) -> list[Clip]:
    """The clips whose latest attempt at `stage` is ok: the input of the next stage."""
    latest = ledger.latest(stage, [clip.id for clip in clips])
    return [clip for clip in clips
            if clip.id in latest and latest[clip.id].status is Status.OK]
