"""Temporally regularised fitting recovers known latents and removes per-frame flicker."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from model.face.base import FaceModel, LatentDims
from model.face.fit import FitInput, FitResult, fit_sequences
from model.face.fit_config import FitConfig
from model.face.hdf5 import load_face_model
from model.face.testing import Synthetic, synthesise, write_synthetic_pca

FRAMES, CLIPS = 120, 3


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> FaceModel:
    path = tmp_path_factory.mktemp("model") / "synthetic.h5"
    return load_face_model(write_synthetic_pca(Path(path), LatentDims(8, 32, 0)))


@pytest.fixture(scope="module")
def clips(model: FaceModel) -> list[Synthetic]:
    return [synthesise(model, FRAMES, seed=seed, noise_px=1.5, max_hz=0.3) for seed in range(CLIPS)]


def _fit(model: FaceModel, clips: list[Synthetic], cfg: FitConfig) -> list[FitResult]:
    inputs = [FitInput(c.landmarks, np.ones(c.landmarks.shape[:2]), i) for i, c in enumerate(clips)]
    return fit_sequences(model, inputs, cfg)


CFG = FitConfig(iterations=40)


@pytest.fixture(scope="module")
def smooth(model: FaceModel, clips: list[Synthetic]) -> list[FitResult]:
    return _fit(model, clips, CFG)


@pytest.fixture(scope="module")
def per_frame(model: FaceModel, clips: list[Synthetic]) -> list[FitResult]:
    """The unregularised baseline: the same fit without the temporal terms."""
    return _fit(model, clips, dataclasses.replace(
        CFG, temporal=0.0, pose_temporal=0.0, second_difference=0.0))


def _jitter(expression: np.ndarray) -> float:
    return float(np.abs(np.diff(expression, axis=0)).mean())


def test_recovered_expression_correlates_with_the_truth(smooth, clips) -> None:
    for fit, truth in zip(smooth, clips, strict=True):
        assert not fit.diverged
        assert np.corrcoef(fit.expression.ravel(), truth.expression.ravel())[0, 1] >= 0.95


def test_temporal_terms_cut_jitter_5x_for_at_most_10_percent_more_error(smooth,
                                                                         per_frame) -> None:
    jitter_smooth = np.mean([_jitter(f.expression) for f in smooth])
    jitter_frame = np.mean([_jitter(f.expression) for f in per_frame])
    error_smooth = np.mean([np.nanmean(f.residual_px) for f in smooth])
    error_frame = np.mean([np.nanmean(f.residual_px) for f in per_frame])
    assert jitter_frame >= 5 * jitter_smooth
    assert error_smooth <= 1.10 * error_frame  # error against the noisy observations


def test_fitting_is_deterministic_and_handles_missing_frames(model, clips) -> None:
    gappy = clips[0].landmarks.copy()
    gappy[40:50] = np.nan  # a bridged gap: no face in ten frames
    inputs = [FitInput(gappy, np.ones(gappy.shape[:2]), "a")]
    first, second = (fit_sequences(model, inputs, FitConfig(iterations=20))[0] for _ in range(2))
    np.testing.assert_array_equal(first.expression, second.expression)
    assert np.isnan(first.residual_px[40:50]).all() and np.isfinite(first.expression).all()
    assert not first.diverged

