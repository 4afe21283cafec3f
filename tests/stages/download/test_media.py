"""Normalising a clip: the same source gives the same bytes on any machine."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from stages.download.media import normalise
from stages.download.testing import make_test_video


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to vary")
def test_a_clips_bytes_do_not_depend_on_the_cores_ffmpeg_sees(tmp_path: Path) -> None:
    """Regression: the encoder's thread count followed the cores (`-threads 1` trailed the
    command and was ignored), so a Dask worker pinned to one core wrote other bytes, and its
    shards another `video_sha256`, than a run on the whole machine."""
    source = make_test_video(tmp_path / "source.mp4", seconds=4.0, size="640x480")
    everywhere = os.sched_getaffinity(0)

    def digest(cores: set[int], name: str) -> str:
        os.sched_setaffinity(0, cores)  # ffmpeg, a child, inherits it
        try:
            normalise(source, 0.5, 3.0, 30.0, 16_000, 480, tmp_path / f"{name}.mp4",
                      tmp_path / f"{name}.wav")
        finally:
            os.sched_setaffinity(0, everywhere)
        return hashlib.sha256((tmp_path / f"{name}.mp4").read_bytes()).hexdigest()

    assert digest({min(everywhere)}, "one-core") == digest(everywhere, "all-cores")
