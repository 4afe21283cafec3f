"""Sampling any audio length: windows cover every frame and crossfade without seams."""

from __future__ import annotations

import numpy as np

from model.sample import crossfade_weights, windows


def test_windows_cover_every_frame_and_the_weights_sum_to_one() -> None:
    for frames, window, overlap in ((300, 120, 30), (121, 120, 30), (50, 120, 30), (1000, 60, 15)):
        starts = windows(frames, window, overlap)
        weights = crossfade_weights(starts, frames, window)
        total = np.zeros(frames)
        for w, start in enumerate(starts):
            n = min(window, frames - start)
            total[start:start + n] += weights[w, :n]
        assert starts[0] == 0 and min(frames, starts[-1] + window) == frames
        assert np.allclose(total, 1.0)


def test_the_crossfade_is_linear_and_leaves_one_windows_frames_alone() -> None:
    starts = windows(200, 120, 40)
    weights = crossfade_weights(starts, 200, 120)
    assert starts == [0, 80]
    assert np.allclose(weights[0, :80], 1.0)  # before the overlap: the first window only
    ramp = weights[1, :40]
    assert np.all(np.diff(ramp) > 0) and np.allclose(np.diff(ramp), np.diff(ramp)[0])
