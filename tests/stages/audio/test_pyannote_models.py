"""The pyannote path, run on a tiny random model saved as a checkpoint, as a real one would be."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests.outcomes import Status
from stages.audio.config import AudioMachine
from stages.audio.pyannote_models import AudioModelError
from stages.audio.stage import AudioConfig, AudioSettings, run
from stages.audio.testing import demo_mix, put_raw, tiny_segmentation_checkpoint
from stages.paths import DataRoot


def test_configured_checkpoint_runs_the_pyannote_path(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "data").create()
    checkpoint = tiny_segmentation_checkpoint(tmp_path)
    cfg = AudioConfig(segmentation_checkpoint=str(checkpoint.parent))
    clips = [put_raw(root, demo_mix("clean_cry"), 0), put_raw(root, demo_mix("silent"), 1)]
    results = run(clips, AudioSettings(cfg, AudioMachine()), root)
    # A random model says nothing true about speech; the path, its scores and the stage's
    # contract are what this test checks.
    assert all(r.metrics["path"] == "pyannote" for r in results)
    assert all(0.0 <= r.metrics["overlap_ratio"] <= 1.0 for r in results)
    assert results[1].status is Status.REJECTED


def test_a_missing_checkpoint_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "data").create()
    cfg = AudioConfig(segmentation_checkpoint=str(tmp_path / "nowhere.ckpt"))
    with pytest.raises(AudioModelError, match="nowhere"):
        run([put_raw(root, demo_mix("clean_cry"), 0)], AudioSettings(cfg, AudioMachine()), root)
