"""Face tracks round-trip through their npz file and refuse inconsistent shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manifests.formats.facetrack import FaceTrack


def make_track(frames: int = 12) -> FaceTrack:
    rng = np.random.default_rng(0)
    present = np.ones(frames, bool)
    present[3] = False
    landmarks = rng.uniform(0, 640, (frames, 478, 3)).astype(np.float32)
    landmarks[~present] = np.nan
    return FaceTrack(landmarks, present, present.copy(), np.array([[4, 12]]), 30.0, 640, 480,
                     {"yaw_deg": rng.normal(0, 5, frames), "coverage": np.ones(frames)})


def test_round_trip_keeps_every_array(tmp_path: Path) -> None:
    track = make_track()
    loaded = FaceTrack.load(track.save(tmp_path / "faces" / "clip.npz"))
    np.testing.assert_array_equal(loaded.landmarks, track.landmarks)
    np.testing.assert_array_equal(loaded.segments, track.segments)
    assert (loaded.fps, loaded.width, loaded.height, loaded.frames) == (30.0, 640, 480, 12)
    assert set(loaded.qc) == {"yaw_deg", "coverage"}
    np.testing.assert_allclose(loaded.qc["yaw_deg"], track.qc["yaw_deg"])


def test_inconsistent_lengths_are_refused() -> None:
    track = make_track()
    with pytest.raises(ValueError, match="good has 5 frames"):
        FaceTrack(track.landmarks, track.present, track.good[:5], track.segments, 30, 640, 480)
    with pytest.raises(ValueError, match="landmarks must be"):
        FaceTrack(track.landmarks[:, :468], track.present, track.good, track.segments, 30, 640,
                  480)
