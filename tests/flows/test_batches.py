"""Stages run in batches under Prefect; the next stage sees only the clips that passed."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from flows.batches import passed, run_stage
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult
from manifests.testing import dummy_clips
from stages.config import CradleConfig
from stages.contract import RunContext, StageSpec


def reject_every_third(clips, cfg, root):
    return [StageResult.rejected(c.id, ReasonCode.SILENT) if i % 3 == 0 else StageResult.ok(c.id)
            for i, c in enumerate(clips)]


@pytest.mark.slow
def test_batches_cover_every_clip_once_and_feed_the_next_stage(tmp_path: Path,
                                                               prefect_server: None) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger.open(url)
    clips = dummy_clips(10)
    ledger.add_clips(clips)
    stage = StageSpec("audio", "1", reject_every_third, "audio")
    ctx = RunContext(CradleConfig(home=tmp_path, ledger={"url": url}, run={"batch_size": 4}),
                     "run-1")

    @flow
    def curate() -> dict[str, Any]:
        return run_stage(stage, clips, ctx)

    # batches of 4, 4, 2: clips 0 and 3 of each batch are rejected
    assert curate() == {"ok": 5, "rejected": 5, "skipped": 0}
    rejected = {clips[0].id, clips[3].id, clips[4].id, clips[7].id, clips[8].id}
    assert {c.id for c in passed(ledger, clips, "audio")} == {c.id for c in clips} - rejected
    # a rerun finds nothing left to do: ok and rejected clips are settled
    assert curate() == {"skipped": 10}
    ledger.close()


@pytest.mark.slow
def test_an_operator_sees_each_stage_progress_in_the_terminal_and_in_prefect(
        tmp_path: Path, prefect_server: None) -> None:
    """A bar per stage on a terminal with the flow's log lines above it (not through it), a
    progress artifact per stage in Prefect, and batch tasks tagged with what they run on."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.runtime import flow_run
    from rich.console import Console
    from rich.logging import RichHandler

    from flows.progress import live_bars

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    clips = dummy_clips(6)
    ledger = Ledger.open(url)
    ledger.add_clips(clips)
    ledger.close()
    ctx = RunContext(CradleConfig(home=tmp_path, ledger={"url": url}, run={"batch_size": 2}),
                     "run-1")
    stages = (StageSpec("audio", "1", reject_every_third, "audio"),
              StageSpec("fitting", "1", reject_every_third, "fitting", device="gpu"))

    @flow(name="cradle-progress-check")
    def curate() -> str:
        for stage in stages:
            run_stage(stage, clips, ctx)
        return str(flow_run.id)

    terminal, own = io.StringIO(), io.StringIO()
    cli_handler = RichHandler(console=Console(file=own), show_path=False)  # as `cradle` logs
    logging.getLogger().addHandler(cli_handler)
    try:
        with live_bars(Console(file=terminal, force_terminal=True, width=200)):
            run_id = curate()
    finally:
        logging.getLogger().removeHandler(cli_handler)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())  # colours and cursor
    assert own.getvalue() == ""  # printed through the bars' console instead
    assert "audio" in shown and "fitting" in shown and "6/6" in shown
    # Each log line starts on a fresh line: the bar is cleared before it, never run into.
    assert re.search(r"\n[^\n]*audio: 6/6 clips", shown) and "left" in shown
    assert not re.search(r"clips/min\S", shown)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
        tasks = client.read_task_runs(task_run_filter=TaskRunFilter(
            flow_run_id=TaskRunFilterFlowRunId(any_=[run_id])))
    assert {a.key: a.data for a in artifacts} == {
        "cradle-progress-check-progress-audio": 100.0,
        "cradle-progress-check-progress-fitting": 100.0}
    assert {t.name.split("-")[0]: set(t.tags) for t in tasks} == {
        "audio": {"cpu"}, "fitting": {"gpu"}}


def test_off_a_terminal_no_bars_are_drawn() -> None:
    from rich.console import Console

    from flows import progress

    piped = io.StringIO()
    with progress.live_bars(Console(file=piped)):
        assert progress._bars is None
    assert piped.getvalue() == ""
