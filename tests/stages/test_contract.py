"""The stage contract: every clip gets exactly one recorded result, and finished work is skipped."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from manifests.ledger import Ledger
from manifests.ledger.export import export_manifests
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from manifests.testing import dummy_clips
from stages.config import CradleConfig
from stages.contract import RunContext, StageSpec, execute_batch, guarded, missing_input
from stages.paths import DataRoot


class CountingStage:
    """Writes one file per clip and rejects clips whose index is odd."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, clips: Sequence[Clip], cfg: Any, root: DataRoot) -> list[StageResult]:
        results = []
        for clip in clips:
            self.seen.append(clip.id)
            if int(clip.id.split("-")[2]) // 1000 % 2:
                results.append(StageResult.rejected(clip.id, ReasonCode.SILENT, {"rms": 0.0}))
                continue
            out = root.audio / f"{clip.id}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(clip.id)
            results.append(StageResult.ok(clip.id, outputs={"text": out}))
        return results


@pytest.fixture
def setup(tmp_path: Path):
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    clips = dummy_clips(4)
    ledger.add_clips(clips)
    yield ledger, clips, DataRoot(tmp_path).create()
    ledger.close()


def context(root: DataRoot, **sections: Any) -> RunContext:
    return RunContext(CradleConfig(home=root.home, **sections))


def test_results_are_recorded_and_a_rerun_skips_finished_clips(setup) -> None:
    ledger, clips, root = setup
    fn = CountingStage()
    stage = StageSpec("audio", "1", fn, "audio")
    first = execute_batch(stage, clips, context(root), ledger)
    assert [r.status for r in first] == [Status.OK, Status.REJECTED, Status.OK, Status.REJECTED]
    fn.seen.clear()
    assert execute_batch(stage, clips, context(root), ledger) == []
    # A rejection is a verdict: the same stage version and configuration would repeat it.
    assert fn.seen == []
    fn.seen.clear()
    execute_batch(stage, clips, context(root, audio={"max_gain_db": 10.0}), ledger)
    assert fn.seen == [clip.id for clip in clips]


def test_changed_config_or_version_or_missing_output_reruns(setup) -> None:
    ledger, clips, root = setup
    fn = CountingStage()
    execute_batch(StageSpec("audio", "1", fn, "audio"), clips[:1], context(root), ledger)
    for stage, ctx in ((StageSpec("audio", "2", fn, "audio"), context(root)),
                       (StageSpec("audio", "1", fn, "audio"),
                        context(root, audio={"max_gain_db": 10.0}))):
        fn.seen.clear()
        execute_batch(stage, clips[:1], ctx, ledger)
        assert fn.seen == [clips[0].id]
    (root.audio / f"{clips[0].id}.txt").unlink()
    fn.seen.clear()
    execute_batch(StageSpec("audio", "1", fn, "audio"), clips[:1], context(root), ledger)
    assert fn.seen == [clips[0].id]


def test_outputs_are_recorded_relative_to_the_data_root_which_can_move(setup,
                                                                       tmp_path: Path) -> None:
    """Regression: the ledger (and so the exports) held absolute local paths of every output."""
    ledger, clips, root = setup
    stage = StageSpec("audio", "1", CountingStage(), "audio")
    execute_batch(stage, clips[:1], context(root), ledger)
    attempt = ledger.latest("audio")[clips[0].id]
    assert attempt.outputs == {"text": f"audio/{clips[0].id}.txt"}
    exported = export_manifests(ledger, tmp_path / "export")
    assert str(tmp_path) not in pd.read_parquet(exported["stage_results"]).to_json()
    # Moved elsewhere, the data root's files are still found and the clip is still settled.
    moved = DataRoot(shutil.copytree(root.home, tmp_path.parent / f"{tmp_path.name}-moved"))
    assert attempt.output("text", moved.home) == moved.audio / f"{clips[0].id}.txt"
    fn = CountingStage()
    execute_batch(StageSpec("audio", "1", fn, "audio"), clips[:1], context(moved), ledger)
    assert fn.seen == []


def test_a_crashing_stage_loses_no_clip(setup) -> None:
    ledger, clips, root = setup

    def explode(clips, cfg, root):
        raise RuntimeError("model weights are corrupt")

    execute_batch(StageSpec("faces", "1", explode, "faces"), clips, context(root), ledger)
    latest = ledger.latest("faces")
    assert {a.status for a in latest.values()} == {Status.RETRY}
    assert all("model weights are corrupt" in a.metrics["error"] for a in latest.values())
    assert len(latest) == len(clips)
    # retry is not settled: the next run tries the clips again
    fixed = StageSpec("faces", "1", lambda clips, cfg, root: [StageResult.ok(c.id) for c in clips],
                      "faces")
    assert len(execute_batch(fixed, clips, context(root), ledger)) == len(clips)


def test_a_clip_without_result_is_recorded_as_failed(setup) -> None:
    ledger, clips, root = setup
    forgetful = StageSpec("faces", "1", lambda clips, cfg, root: [StageResult.ok(clips[0].id)],
                          "faces")
    execute_batch(forgetful, clips[:2], context(root), ledger)
    latest = ledger.latest("faces")
    assert latest[clips[0].id].status is Status.OK
    assert latest[clips[1].id].reason is ReasonCode.INTERNAL_ERROR
    assert "returned no result" in latest[clips[1].id].metrics["error"]


def test_non_ok_results_need_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        StageResult("c", Status.REJECTED)
    result = StageResult.rejected("c", ReasonCode.MUSIC, {"music_ratio": 0.8})
    assert StageResult.from_dict(result.to_dict()) == result


def test_deferred_clips_are_not_recorded_and_stay_pending(setup) -> None:
    ledger, clips, root = setup

    def breaker_open(clips, cfg, root):
        return [StageResult.ok(clips[0].id)] + [
            StageResult.defer(clip.id, ReasonCode.RATE_LIMITED) for clip in clips[1:]]

    stage = StageSpec("download", "1", breaker_open, "download")
    results = execute_batch(stage, clips, context(root), ledger)
    assert [r.deferred for r in results] == [False, True, True, True]
    assert set(ledger.latest("download")) == {clips[0].id}
    counts = {(c.status, c.clips) for c in ledger.status_counts() if c.stage == "download"}
    assert counts == {("ok", 1), ("pending", 3)}


def test_one_guard_turns_a_clips_bug_into_its_failed_result() -> None:
    def broken() -> StageResult:
        raise KeyError("landmarks")

    result = guarded("faces", "c", broken)
    assert isinstance(result, StageResult)
    assert (result.status, result.reason) == (Status.FAILED, ReasonCode.INTERNAL_ERROR)
    assert "KeyError('landmarks')" in result.metrics["error"]
    assert guarded("faces", "c", lambda: 42) == 42


def test_a_missing_input_is_retried_and_names_no_local_path(setup) -> None:
    _, _, root = setup
    result = missing_input("c", "raw audio", root.clip("c").raw_audio, root)
    assert (result.status, result.reason) == (Status.RETRY, ReasonCode.MISSING_INPUT)
    assert result.metrics == {"missing": "raw audio", "path": "raw/c.wav"}


def test_a_run_context_pickles_for_dask_workers(setup) -> None:
    import pickle

    _, _, root = setup
    ctx = RunContext(CradleConfig(home=root.home), "run-1", "http://127.0.0.1:9/")
    assert pickle.loads(pickle.dumps(ctx)) == ctx
