"""Ingest: select the run's clips, register them, then download them in batches like any stage.

Wiring only. Per-clip faults are values recorded by `execute_batch`; a task fails only for
environment trouble (the ledger's database, the data root), and is retried only when that trouble
can pass. Once the run's circuit breaker is open (429 or bot check), no further batch is scheduled
and the clips not tried stay pending for the next run. When every download of a run fails the
same way (no network, DNS, a bot wall) the run stops there (`RunStopped`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from demo.server import serve_corpus
from flows.batches import run_stage
from flows.params import DEMO_DATASET, SourceParams
from flows.report import publish_report
from flows.session import Session, run_session
from manifests.errors import RunStopped
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, Status
from manifests.records import Clip
from stages.config import CradleConfig
from stages.contract import RunContext
from stages.download import stage as download
from stages.download.fetch import DEMO_SCHEME, DEMO_URL
from stages.sources.stage import collect, read_audioset_csv, register_clips

# Faults of the run's surroundings, not of its clips: when they are all a run's downloads meet,
# nothing later can succeed, and the run stops rather than publish an empty version.
ENVIRONMENT_FAULTS = frozenset({ReasonCode.NETWORK_ERROR, ReasonCode.TIMEOUT,
                                ReasonCode.RATE_LIMITED, ReasonCode.BOT_CHECK})


@dataclass
class Ingested:
    """The run's clips, what ingest did with them, and the context that can fetch them."""

    clips: list[Clip]
    summary: dict[str, dict[str, Any]]
    fetching: RunContext


@task
def prepare_demo_corpus(folder: Path, seed: int, train_size: int) -> Path:
    """Generates the demo corpus unless an intact one with this seed and size is already there."""
    from demo import generate_corpus

    generate_corpus(folder, seed=seed, train_size=train_size)
    return folder / "segments.csv"


@task
def register_sources(ctx: RunContext, clips: list[Clip]) -> int:
    """Adds the clips new to the ledger (known ones are untouched); returns how many were new."""
    ledger = Ledger(ctx.ledger_url)
    try:
        return len(register_clips(ledger, clips, run_id=ctx.run_id))
    finally:
        ledger.close()


def select_clips(params: SourceParams, cfg: CradleConfig,
                 demo_segments: Path | None = None) -> list[Clip]:
    """The clips the run's source lists select, then the demo corpus's (its `segments.csv`
    given as `demo_segments`), in order, at most `params.limit` of them. No Prefect inside:
    `cradle run --dry-run` shows the same list without starting a run."""
    clips = collect(params.source_lists, cfg.sources).clips if params.source_lists else []
    if demo_segments is not None:
        clips += [clip for clip in read_audioset_csv(demo_segments, url_template=DEMO_URL,
                                                     id_prefix="demo")
                  if cfg.demo.selects(clip.url)]
    return clips[:params.limit] if params.limit else clips


def serving_demo(ctx: RunContext, clips: Sequence[Clip],
                 stack: contextlib.ExitStack) -> RunContext:
    """The context that fetches `clips`: with a loopback server for the demo corpus while the
    run lasts when any clip is a demo clip (the demo goes through the real download path)."""
    if not any(clip.url.startswith(DEMO_SCHEME) for clip in clips):
        return ctx
    base_url = stack.enter_context(serve_corpus(ctx.root.demo))
    get_run_logger().info("demo corpus served at %s", base_url)
    return replace(ctx, demo_base_url=base_url)


def take_in(session: Session, params: SourceParams, stack: contextlib.ExitStack) -> Ingested:
    """Selects, registers and downloads the run's clips; the demo server lives in `stack`.

    Raises:
        RunStopped: every download tried failed the same way, from outside (see the module).
    """
    cfg = session.ctx.cfg
    segments = (prepare_demo_corpus(session.root.demo, cfg.demo.seed, cfg.demo.train_size)
                if params.demo else None)
    clips = select_clips(params, cfg, segments)
    fetching = serving_demo(session.ctx, clips, stack)
    summary: dict[str, dict[str, Any]] = {
        "sources": {"clips": len(clips), "new": register_sources(session.ctx, clips)}}
    summary["download"] = download_clips(clips, fetching)
    cause = shared_environment_fault(session.ledger, clips, session.run_id, summary["download"])
    if cause is not None:
        raise RunStopped(f"every download of this run failed the same way: {cause}; "
                         "nothing was curated and no dataset version was made")
    return Ingested(clips, summary, fetching)


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


def shared_environment_fault(ledger: Ledger, clips: Sequence[Clip], run_id: str,
                             counts: dict[str, Any]) -> str | None:
    """The one environment fault every download this run tried met, in words, or None.

    None as soon as anything downloaded, or was already there to curate: a single flaky clip
    never stops a run that has other work.
    """
    if counts.get("ok") or counts.get("skipped"):
        return None
    latest = ledger.latest(download.STAGE.name, [clip.id for clip in clips])
    tried = [a for a in latest.values() if a.run_id == run_id]
    reasons = Counter(a.reason for a in tried if a.status in (Status.RETRY, Status.FAILED))
    if not tried or len(reasons) != 1 or sum(reasons.values()) != len(tried):
        return None
    reason = next(iter(reasons))
    if reason not in ENVIRONMENT_FAULTS:
        return None
    return f"{reason.value} ({reason.description}) on all {len(tried)} clips tried"


@flow(name="cradle-ingest")
def ingest(params: SourceParams | None = None) -> dict[str, dict[str, Any]]:
    """Registers the run's sources and downloads their clips; returns counts per stage."""
    params = params or SourceParams()
    with run_session("ingest", params.model_dump(mode="json")) as session:
        with contextlib.ExitStack() as stack:
            summary = take_in(session, params, stack).summary
        publish_report(session, "ingest", summary, DEMO_DATASET if params.demo else None)
        return summary
