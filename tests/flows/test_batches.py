"""Stages run in batches under Prefect; the next stage sees only the clips that passed."""

from __future__ import annotations

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
