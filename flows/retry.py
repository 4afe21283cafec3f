"""`retry-failed`: re-runs exactly the clips whose latest outcome is `retry`, then the shards.

A `retry` is a fault that may pass (a timeout, a 429 that tripped the breaker, a crash of a
stage): the nightly run tries those clips again anyway, this flow does it now and touches
nothing else — clips never tried, settled verdicts and permanent failures are left as they are.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prefect import flow, get_run_logger

from flows.curate import build_shards, curate_clips
from flows.ingest import download_clips, serving_demo
from flows.params import RetryParams
from flows.report import publish_report
from flows.session import run_session
from manifests.ledger import Ledger
from manifests.outcomes import PIPELINE_STAGES, Status
from manifests.records import Clip


def clips_to_retry(ledger: Ledger) -> list[Clip]:
    """The clips that stand at a `retry`: the first stage they have not passed ended in one."""
    standing: dict[str, str] = {}  # clip id -> the first stage it has not passed
    waiting = {clip.id for clip in ledger.clips()}
    for stage in PIPELINE_STAGES[1:-1]:  # download .. fitting; shards has no per-clip fault
        latest = ledger.latest(stage, sorted(waiting))
        for clip_id in list(waiting):
            attempt = latest.get(clip_id)
            if attempt is None or not attempt.passed:
                waiting.discard(clip_id)
                if attempt is not None and attempt.status is Status.RETRY:
                    standing[clip_id] = stage
    return ledger.clips(sorted(standing)) if standing else []


@flow(name="cradle-retry-failed")
def retry_failed(params: RetryParams | None = None) -> dict[str, dict[str, Any]]:
    """Downloads and curates again the clips whose latest outcome is `retry`."""
    params = params or RetryParams()
    with run_session("retry-failed", params.model_dump(mode="json")) as session:
        clips = clips_to_retry(session.ledger)
        get_run_logger().info("%d clips stand at a retry", len(clips))
        summary: dict[str, dict[str, Any]] = {"retry": {"clips": len(clips)}}
        if clips:
            with contextlib.ExitStack() as stack:
                summary["download"] = download_clips(clips, serving_demo(session.ctx, clips,
                                                                         stack))
            summary |= curate_clips(session, clips)
            summary["shards"] = build_shards(session.ctx, params.dataset)
        publish_report(session, "retry-failed", summary, params.dataset)
        return summary
