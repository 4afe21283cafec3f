"""Retention: raw downloads deleted when the policy says, recorded in the ledger, and never
fetched again; the stages that needed them say why they cannot run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from manifests.errors import ConfigError
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from manifests.testing import dummy_clips, dummy_rejection
from stages.config import load_config
from stages.contract import is_settled, missing_input
from stages.download.retention import purge_raw_media
from stages.download.stage import STAGE
from stages.paths import DataRoot

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
HASH = "download-hash"


def downloaded(ledger: Ledger, root: DataRoot, clips: list[Clip], when: datetime) -> None:
    """Raw files and an ok download attempt for each clip, finished at `when`."""
    results = []
    for clip in clips:
        files = root.clip(clip.id)
        for path, data in ((files.raw_video, b"mp4" * 100), (files.raw_audio, b"wav" * 100),
                           (files.provenance, json.dumps({"title": clip.id}).encode())):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        results.append(StageResult.ok(clip.id, {"provenance": {"title": clip.id}}, {
            "video": files.raw_video, "audio": files.raw_audio, "provenance": files.provenance}))
    ledger.record("download", STAGE.version, HASH, results, started_at=when, finished_at=when)


@pytest.fixture
def world(tmp_path: Path):
    root = DataRoot(tmp_path / "home").create()
    ledger = Ledger.open(f"sqlite:///{root.home / 'ledger.sqlite'}")
    fitted, fit_rejected, faces_rejected, fresh = clips = dummy_clips(4)
    ledger.add_clips(clips)
    downloaded(ledger, root, clips[:3], NOW - timedelta(days=10))
    downloaded(ledger, root, [fresh], NOW - timedelta(hours=1))
    ledger.record("fitting", "1", "f", [StageResult.ok(fitted.id),
                                        dummy_rejection(fit_rejected, ReasonCode.FIT_DIVERGED)],
                  started_at=NOW)
    ledger.record("faces", "2", "h", [dummy_rejection(faces_rejected)], started_at=NOW)
    yield ledger, root, clips
    ledger.close()


def raw_left(root: DataRoot, clips: list[Clip]) -> list[str]:
    return [c.id for c in clips if root.clip(c.id).raw_video.exists()]


def test_keep_deletes_nothing(world) -> None:
    ledger, root, clips = world
    assert purge_raw_media(ledger, root, "keep", now=NOW) == []
    assert raw_left(root, clips) == [c.id for c in clips]


def test_after_fit_deletes_once_fitting_judged_the_clip_and_records_it(world) -> None:
    ledger, root, (fitted, fit_rejected, faces_rejected, fresh) = world
    assert [p.clip_id for p in purge_raw_media(ledger, root, "after-fit", now=NOW,
                                               dry_run=True)] == sorted([fitted.id,
                                                                         fit_rejected.id])
    assert len(raw_left(root, world[2])) == 4  # a dry run deletes nothing

    purged = purge_raw_media(ledger, root, "after-fit", now=NOW)
    assert sorted(p.clip_id for p in purged) == sorted([fitted.id, fit_rejected.id])
    assert purged[0].files == (f"raw/{purged[0].clip_id}.mp4", f"raw/{purged[0].clip_id}.wav")
    # A clip rejected before fitting keeps its raw media: an override may still need it.
    assert sorted(raw_left(root, world[2])) == sorted([faces_rejected.id, fresh.id])

    attempt = ledger.latest("download", [fitted.id])[fitted.id]
    assert attempt.status is Status.OK and attempt.metrics["purged_at"] == NOW.isoformat()
    assert set(attempt.outputs) == {"provenance"}
    provenance = json.loads(root.clip(fitted.id).provenance.read_text())
    assert provenance == {"title": fitted.id, "purged_at": NOW.isoformat(),
                          "purge_policy": "after-fit"}
    # The resume rule does not download it again, and a stage that needs it says why not.
    assert is_settled(attempt, STAGE, HASH, root.home)
    needed = missing_input(fitted.id, "raw audio", root.clip(fitted.id).raw_audio, root)
    assert (needed.status, needed.reason) == (Status.FAILED, ReasonCode.RAW_MEDIA_PURGED)
    ordinary = missing_input(fresh.id, "face track", root.clip(fresh.id).face_track, root)
    assert (ordinary.status, ordinary.reason) == (Status.RETRY, ReasonCode.MISSING_INPUT)
    assert purge_raw_media(ledger, root, "after-fit", now=NOW) == []  # nothing twice


def test_days_deletes_downloads_older_than_the_limit(world) -> None:
    ledger, root, clips = world
    purged = purge_raw_media(ledger, root, "days:7", now=NOW)
    assert sorted(p.clip_id for p in purged) == sorted(c.id for c in clips[:3])
    assert raw_left(root, clips) == [clips[3].id]


def test_the_policy_is_checked_and_cradle_purge_applies_it(world, isolated_home: Path,
                                                           monkeypatch) -> None:
    with pytest.raises(ConfigError, match=r"storage\.raw_media"):
        load_config(storage={"raw_media": "days:soon"})
    _, root, clips = world
    monkeypatch.setenv("CRADLE_HOME", str(root.home))
    monkeypatch.setenv("CRADLE_STORAGE__RAW_MEDIA", "days:7")
    dry = CliRunner().invoke(app, ["purge", "--dry-run"], terminal_width=200)
    assert dry.exit_code == 0 and "would delete the raw media of 3 clips" in dry.output
    done = CliRunner().invoke(app, ["purge"], terminal_width=200)
    assert done.exit_code == 0 and "deleted the raw media of 3 clips" in done.output
    assert raw_left(root, clips) == [clips[3].id]
