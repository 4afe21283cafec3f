"""The open default: a landmark PCA built from face tracks, saved in INFACE's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from manifests.facemesh import APERTURE, LANDMARKS, LIPS
from model.face.base import FaceModelError, LatentDims
from model.face.fit import FitInput, fit_sequences
from model.face.fit_config import FitConfig
from model.face.hdf5 import load_face_model
from model.face.open_model import OpenModelConfig, build_open_face_model
from model.face.testing import synthetic_track, write_synthetic_pca


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("faces")
    source = load_face_model(write_synthetic_pca(folder / "truth.h5", LatentDims(4, 12, 0)))
    paths = []
    for seed in range(4):
        track, _ = synthetic_track(source, 90, seed=seed, segments=((0, 40), (50, 90)),
                                   noise_px=0.3)
        paths.append(track.save(folder / f"clip{seed}.npz"))
    return paths


def test_built_model_loads_with_the_identity_correspondence(tracks, tmp_path: Path) -> None:
    summary = build_open_face_model(tracks, tmp_path / "open.h5",
                                    OpenModelConfig(expression_components=64))
    assert summary.clips == 4 and summary.frames == 4 * 80  # gap frames 40-50 left out
    assert summary.dims.identity == 3  # four clip means span three directions
    assert summary.dims.expression == 64 and summary.explained_variance > 0.95
    model = load_face_model(summary.path)
    assert model.dims == summary.dims
    np.testing.assert_array_equal(model.correspondence.landmarks, np.arange(LANDMARKS))
    assert sorted(model.lip_vertices.tolist()) == list(LIPS)
    assert model.aperture_vertices == APERTURE
    neutral = model.neutral()  # (478, 3), ~mm
    eye = float((neutral[33] - neutral[263]).norm())
    assert eye == pytest.approx(70.0, rel=0.05)
    assert float(model.mouth_aperture(neutral)) >= 0
    fit = fit_sequences(model, [FitInput(np.load(tracks[0])["landmarks"][:40],
                                         np.ones((40, LANDMARKS)), 0)], FitConfig(iterations=30))
    assert np.nanmean(fit[0].residual_px) < 1.0


def test_too_little_data_gives_fewer_components_or_a_clear_error(tracks, tmp_path) -> None:
    summary = build_open_face_model(tracks[:1], tmp_path / "small.h5")
    assert summary.dims.identity == 0 and 0 < summary.dims.expression <= 64
    with pytest.raises(FaceModelError, match="accepted frames"):
        build_open_face_model([], tmp_path / "none.h5")
    assert torch.isfinite(load_face_model(summary.path).neutral()).all()
