"""Scoring landmark predictions (Animote's targets) by the same rules as decoded vertices, and
a version with nothing to score refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manifests.facemesh import APERTURE
from model.baselines import Window, baselines
from model.data import EmptySplitError
from model.evaluate import EvalConfig, LandmarkScorer, evaluate
from model.train import main
from tests.model.test_train import one_split, tiny


def talking_window(frames: int = 90, seed: int = 0) -> Window:
    """Head-frame landmarks whose lower lip opens and closes twice a second."""
    rng = np.random.default_rng(seed)
    landmarks = np.repeat(rng.normal(0, 30, (1, 468, 3)), frames, axis=0).astype(np.float32)
    opening = 4 * np.sin(2 * np.pi * 2 * np.arange(frames) / 30) ** 2  # (F,) model units
    landmarks[:, APERTURE[1], 1] -= opening
    audio = rng.normal(0, 0.1, frames * 16_000 // 30).astype(np.float32)
    return Window(f"w{seed}", f"clip{seed}", "", 30.0, np.zeros((frames, 4), np.float32),
                  np.zeros(2, np.float32), np.zeros(1, np.float32), audio, landmarks)


def test_the_truth_scores_perfectly_and_a_late_copy_does_not() -> None:
    scorer, window = LandmarkScorer(), talking_window()
    perfect = scorer.score(window, scorer.truth(window))
    assert perfect["lve_frames"].max() == 0 and perfect["dtw"] == 0
    assert np.isclose(perfect["pcc"], 1) and np.isclose(perfect["ccc"], 1)
    late = scorer.score(window, baselines([window], scorer.truth)["shifted 0.5 s"](window))
    assert late["pcc"] < 0.9 and late["dtw"] > 0 and late["lve_frames"].mean() > 0


def test_every_baseline_predicts_landmarks_of_the_window_shape() -> None:
    scorer, windows = LandmarkScorer(), [talking_window(seed=s) for s in range(3)]
    for name, predict in baselines(windows[:2], scorer.truth).items():
        predicted = predict(windows[2])
        assert predicted.shape == (90, 468 * 3), name
        assert np.isfinite(scorer.score(windows[2], predicted)["dtw"]), name


def test_a_version_without_test_samples_is_refused_by_name(tmp_path: Path) -> None:
    """Regression: `cradle run --demo --limit 3` made a version with no test split, and its
    evaluation crashed the nightly run in webdataset (IndexError) instead of naming the split."""
    paths = one_split(tmp_path, "train")
    run = main(tiny(steps=2), paths, show_progress=False).run_dir
    with pytest.raises(EmptySplitError, match="infant@v0001 test has no samples"):
        evaluate([run], paths.home, cfg=EvalConfig(bootstrap=1, regressor=False))
