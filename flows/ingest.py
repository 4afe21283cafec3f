"""Ingest wiring: the download stage over batches of clips, one Prefect task per batch.

Wiring only. Per-clip faults are values recorded by `execute_batch`; a task fails only for
environment trouble (the ledger's database, the data root), and is retried only when that trouble
can pass. Once the run's circuit breaker is open (429 or bot check), no further batch is scheduled
and the clips not tried stay pending for the next run.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff
from sqlalchemy.exc import OperationalError

from manifests.ledger import Ledger
from manifests.records import Clip
from stages.config import CradleConfig
from stages.contract import execute_batch
from stages.download import STAGE, DownloadSettings
from stages.paths import DataRoot
from stages.throttle import CircuitBreaker

DEMO_SCHEME = "demo://"
_TRANSIENT = (OperationalError, ConnectionError, TimeoutError)


def only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a batch only for faults that pass (a database hiccup), never for a bug or bad data."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, _TRANSIENT)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=exponential_backoff(10),
      retry_jitter_factor=0.5, retry_condition_fn=only_transient)
def download_batch(clips: list[Clip], settings: DownloadSettings, config_hash: str,
                   home: Path, ledger_url: str, run_id: str) -> dict[str, int]:
    """Downloads one batch and records it; returns counts by outcome."""
    ledger = Ledger(ledger_url)
    try:
        results = execute_batch(STAGE, clips, settings, config_hash, DataRoot(Path(home)), ledger,
                                run_id=run_id)
    finally:
        ledger.close()
    counts = Counter("deferred" if r.deferred else r.status.value for r in results)
    counts["skipped"] = len(clips) - len(results)
    return dict(counts)


def download_clips(clips: Sequence[Clip], cfg: CradleConfig, ledger_url: str, run_id: str,
                   demo_base_url: str | None = None, parallel_batches: int = 1
                   ) -> dict[str, Any]:
    """Downloads every clip not yet done, in batches of `cfg.run.batch_size`; call from a flow.

    Args:
        clips: registered clips (the ledger must know them).
        cfg: the configuration; `download` is hashed into the resume rule, `network` is not.
        ledger_url: where results go.
        run_id: the ledger run; its breaker lives in `runs/<run_id>/breaker.json`.
        demo_base_url: where `demo://<file>` URLs are served (the demo's loopback server).
        parallel_batches: batches in flight at once (each has `cfg.network.workers` threads).

    Returns:
        Counts (`ok`, `failed`, `retry`, `deferred`, `skipped` = already done, `unscheduled` =
        left for the next run by the breaker) and `breaker`: why it opened, or None.
    """
    logger = get_run_logger()
    root = DataRoot(cfg.home)
    settings = DownloadSettings(cfg.download, cfg.network, run_id)
    config_hash = cfg.section_hash("download")
    breaker = CircuitBreaker(root.run_dir(run_id))
    batches = [[_resolve_demo(c, demo_base_url) for c in clips[i:i + cfg.run.batch_size]]
               for i in range(0, len(clips), cfg.run.batch_size)]
    totals: Counter[str] = Counter()
    in_flight: list[PrefectFuture[dict[str, int]]] = []
    for number, batch in enumerate(batches):
        if breaker.is_open():
            totals["unscheduled"] = sum(len(b) for b in batches[number:])
            break
        in_flight.append(download_batch.submit(batch, settings, config_hash, root.home,
                                               ledger_url, run_id))
        if len(in_flight) >= parallel_batches:
            totals.update(in_flight.pop(0).result())
    for future in in_flight:
        totals.update(future.result())
    state = breaker.state()
    if state is not None:
        logger.warning("downloads stopped by the circuit breaker: %s on %s at %s",
                       state.reason.value, state.clip_id, state.opened_at)
    logger.info("download: %s", dict(totals))
    return {**dict(totals), "breaker": state.to_dict() if state else None}


def _resolve_demo(clip: Clip, base_url: str | None) -> Clip:
    """`demo://x.mp4` → `<base_url>x.mp4`; the clip keeps its id, so the ledger is unchanged."""
    if not clip.url.startswith(DEMO_SCHEME):
        return clip
    if base_url is None:
        raise ValueError(f"clip {clip.id} is a demo clip: pass demo_base_url (the demo server)")
    return dataclasses.replace(clip, url=base_url.rstrip("/") + "/" + clip.url[len(DEMO_SCHEME):])
