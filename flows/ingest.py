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
from typing import Any

from prefect import get_run_logger
from prefect.futures import PrefectFuture

from flows.batches import count_outcomes, stage_batch
from manifests.outcomes import StageResult
from manifests.records import Clip
from stages.config import CradleConfig
from stages.download.stage import STAGE, DownloadSettings
from stages.download.throttle import CircuitBreaker
from stages.paths import DataRoot

DEMO_SCHEME = "demo://"
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
    in_flight: list[tuple[int, PrefectFuture[list[StageResult]]]] = []
    for number, batch in enumerate(batches):
        if breaker.is_open():
            totals["unscheduled"] = sum(len(b) for b in batches[number:])
            break
        in_flight.append((len(batch), stage_batch.submit(
            STAGE, number, batch, settings, config_hash, root.home, ledger_url, run_id)))
        if len(in_flight) >= parallel_batches:
            given, future = in_flight.pop(0)
            totals.update(count_outcomes(future.result(), given))
    for given, future in in_flight:
        totals.update(count_outcomes(future.result(), given))
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
