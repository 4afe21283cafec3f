"""The fitting stage: face tracks in, fits on disk, one rejection per reason, and resume."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from manifests.formats.facefit import FaceFit
from manifests.formats.facetrack import FaceTrack
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.testing import dummy_clips
from model.face.base import LatentDims
from model.face.fit_config import FitConfig
from model.face.hdf5 import load_face_model
from model.face.open_model import build_open_face_model
from model.face.testing import synthetic_track, write_synthetic_pca
from stages.config import CradleConfig
from stages.contract import RunContext, execute_batch
from stages.fitting.config import FittingConfig, FittingMachine
from stages.fitting.stage import STAGE, FittingSettings, accepted_tracks, run
from stages.paths import DataRoot
from tests.model.conftest import one_torch_thread  # noqa: F401  (autouse: small problems)

FRAMES = 60
SEGMENTS = ((0, 25), (30, 60))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[DataRoot, FittingSettings, list]:
    root = DataRoot(tmp_path / "home").create()
    model_path = write_synthetic_pca(tmp_path / "synthetic.h5", LatentDims(4, 12, 0))
    model = load_face_model(model_path)
    clips = dummy_clips(3)
    for seed, clip in enumerate(clips):
        track, _ = synthetic_track(model, FRAMES, seed=seed, segments=SEGMENTS)
        track.save(root.clip(clip.id).face_track)
    fitting = FittingConfig(face_model=str(model_path), optimiser=FitConfig(iterations=30))
    return root, FittingSettings(fitting, FittingMachine()), clips


def with_fitting(cfg: FittingSettings, **changes: object) -> FittingSettings:
    return replace(cfg, section=cfg.section.model_copy(update=changes))


def test_tracks_become_fits_with_the_right_shapes(setup) -> None:
    root, cfg, clips = setup
    results = run(clips, cfg, root)
    assert [r.status for r in results] == [Status.OK] * 3
    fit = FaceFit.load(results[0].outputs["fit"])
    assert fit.expression.shape == (FRAMES, 12) and fit.identity.shape == (4,)
    assert fit.rotation.shape == (FRAMES, 3, 3) and fit.translation.shape == (FRAMES, 2)
    assert np.isnan(fit.expression[25:30]).all() and np.isfinite(fit.expression[:25]).all()
    assert fit.model_id == results[0].metrics["model_id"] == load_face_model(
        Path(cfg.section.face_model)).model_id
    assert results[0].metrics["residual_px_mean"] < 2.0
    assert np.nanmax(fit.residual_px) < 4.0


def test_the_open_model_is_found_under_the_data_root(setup) -> None:
    root, cfg, clips = setup
    build_open_face_model(sorted(root.faces.glob("*.npz")), root.open_face_model)
    results = run(clips[:1], with_fitting(cfg, face_model="open"), root)
    assert results[0].status is Status.OK


def test_a_missing_track_is_missing_input_and_retried(setup) -> None:
    root, cfg, clips = setup
    root.clip(clips[1].id).face_track.unlink()
    results = run(clips, cfg, root)
    assert results[1].reason is ReasonCode.MISSING_INPUT
    assert [r.status for r in results] == [Status.OK, Status.RETRY, Status.OK]


def overridden_track(root: DataRoot, clip_id: str, present: np.ndarray) -> None:
    """Rewrites a clip's track as the faces stage saves a rejected one: a verdict, no segments,
    no good frame, landmarks only where a face was found."""
    path = root.clip(clip_id).face_track
    track = FaceTrack.load(path)
    landmarks = np.where(present[:, None, None], track.landmarks, np.nan).astype(np.float32)
    replace(track, landmarks=landmarks, present=present, good=np.zeros(FRAMES, bool),
            segments=np.zeros((0, 2), np.int64), verdict="mouth_occluded").save(path)


def test_an_overridden_rejection_is_fitted_where_a_face_was_found(setup) -> None:
    """A rejected track reaches fitting only through a reviewer's override: fit every face."""
    root, cfg, clips = setup
    present = np.ones(FRAMES, bool)
    present[20:24] = present[50] = False
    overridden_track(root, clips[0].id, present)
    overridden, accepted = run(clips[:2], cfg, root)
    assert overridden.status is Status.OK, overridden.metrics
    assert overridden.metrics["review_override"] is True
    assert overridden.metrics["frames_fitted"] == present.sum()
    fit = FaceFit.load(overridden.outputs["fit"])
    assert fit.segments.tolist() == [[0, 20], [24, 50], [51, FRAMES]]
    assert (np.isfinite(fit.expression).all(axis=1) == present).all()
    assert accepted.status is Status.OK and "review_override" not in accepted.metrics


def test_an_overridden_rejection_without_a_face_is_face_not_found(setup) -> None:
    root, cfg, clips = setup
    overridden_track(root, clips[0].id, np.zeros(FRAMES, bool))
    result = run(clips[:1], cfg, root)[0]
    assert result.reason is ReasonCode.FACE_NOT_FOUND
    assert result.metrics["frames_present"] == 0
    assert not root.clip(clips[0].id).face_fit.exists()


def test_a_face_the_model_cannot_explain_is_high_residual(setup) -> None:
    root, cfg, clips = setup
    path = root.clip(clips[0].id).face_track
    with np.load(path) as data:
        arrays = dict(data)
    shuffled = np.random.default_rng(0).permutation(arrays["landmarks"].shape[1])
    arrays["landmarks"] = arrays["landmarks"][:, shuffled]  # landmarks on the wrong points
    np.savez_compressed(path, **arrays)
    result = run(clips[:1], cfg, root)[0]
    assert result.reason is ReasonCode.FIT_HIGH_RESIDUAL
    assert result.metrics["residual_iod"] > cfg.section.max_residual_iod
    assert not root.clip(clips[0].id).face_fit.exists()


def test_a_runaway_optimiser_is_diverged(setup) -> None:
    root, cfg, clips = setup
    runaway = FitConfig(iterations=30, lr=1e4, pose_lr=1e4)
    result = run(clips[:1], with_fitting(cfg, optimiser=runaway), root)[0]
    assert result.reason is ReasonCode.FIT_DIVERGED
    final, initial = result.metrics["loss_final"][0], result.metrics["loss_initial"][0]
    assert final is None or final > initial


def test_a_second_run_writes_nothing(setup, tmp_path: Path) -> None:
    root, cfg, clips = setup
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        ledger.add_clips(clips)
        ctx = RunContext(CradleConfig(home=root.home, fitting=cfg.section))
        first = execute_batch(STAGE, clips, ctx, ledger)
        assert [r.status for r in first] == [Status.OK] * 3
        stamps = {p: p.stat().st_mtime_ns for p in root.fits.iterdir()}
        assert execute_batch(STAGE, clips, ctx, ledger) == []
        assert {p: p.stat().st_mtime_ns for p in root.fits.iterdir()} == stamps
    finally:
        ledger.close()


def test_the_open_model_is_built_from_the_tracks_the_ledger_accepted(setup, tmp_path: Path) -> None:
    """`cradle build-face-model` asks the ledger, so a rejected clip's leftover file is not used."""
    root, _, clips = setup
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        ledger.add_clips(clips)
        tracks = {clip.id: root.clip(clip.id).face_track for clip in clips}
        ledger.record("faces", "1", "h", [
            StageResult.ok(clips[0].id, outputs={"track": tracks[clips[0].id]}),
            StageResult.rejected(clips[1].id, ReasonCode.FACE_TURNED),
            StageResult.ok(clips[2].id, outputs={"track": tracks[clips[2].id]}),
        ], started_at=datetime.now(UTC))
        assert accepted_tracks(ledger, root) == sorted([tracks[clips[0].id], tracks[clips[2].id]])
    finally:
        ledger.close()


def test_each_clip_of_a_batch_records_its_own_time(setup) -> None:
    """Regression: every clip of a batch got the batch's wall time as its `seconds`."""
    root, cfg, clips = setup
    for workers in (1, 3):  # clips fitted one after another, then side by side
        began = time.perf_counter()
        results = run(clips, FittingSettings(cfg.section, FittingMachine(workers=workers)), root)
        wall = time.perf_counter() - began
        seconds = [r.metrics["seconds"] for r in results]
        assert all(0 < s <= wall for s in seconds)
        assert sum(seconds) <= wall * workers
        for clip in clips:
            root.clip(clip.id).face_fit.unlink()


def test_a_clips_fit_is_the_same_whatever_shares_its_batch(setup, tmp_path: Path) -> None:
    """Regression: clips of a batch were fitted as one padded problem, so a clip's latents
    changed with the other clips' lengths and scales (a batch of 1 and of 2 gave different
    shards)."""
    root, cfg, clips = setup
    short = FaceTrack.load(root.clip(clips[0].id).face_track)
    replace(short, segments=np.array([[0, 12]])).save(root.clip(clips[0].id).face_track)

    def fitted(batch: list) -> dict[str, bytes]:
        return {r.clip_id: Path(r.outputs["fit"]).read_bytes() for r in run(batch, cfg, root)}

    together = fitted(clips)
    assert fitted(clips[::-1]) == together
    for clip in clips:
        assert fitted([clip]) == {clip.id: together[clip.id]}


def test_clips_fitted_side_by_side_match_one_at_a_time_and_torch_keeps_its_threads(
        setup) -> None:
    """Fitting threads share one model and torch's thread setting: neither may leak into a fit,
    and the training that follows in a nightly run gets its threads back."""
    root, cfg, clips = setup
    model = load_face_model(Path(cfg.section.face_model))
    for seed, clip in enumerate(clips):  # long enough for torch to split its work over threads
        track, _ = synthetic_track(model, 10 * FRAMES, seed=seed)
        track.save(root.clip(clip.id).face_track)

    def fitted(torch_threads: int, workers: int) -> dict[str, bytes]:
        torch.set_num_threads(torch_threads)
        machine = FittingSettings(cfg.section, FittingMachine(workers=workers))
        fits = {r.clip_id: Path(r.outputs["fit"]).read_bytes() for r in run(clips, machine, root)}
        assert torch.get_num_threads() == torch_threads
        for clip in clips:
            root.clip(clip.id).face_fit.unlink()
        return fits

    assert fitted(torch_threads=2, workers=1) == fitted(torch_threads=1, workers=3)
