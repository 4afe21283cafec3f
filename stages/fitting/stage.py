"""The fitting stage: face-model latents for the accepted segments of every face track.

Reads `faces/<clip>.npz`, fits identity and age per clip and expression and camera per frame
(model/face/fit.py), writes `fits/<clip>.npz`. A track the faces stage rejected arrives here only
through a reviewer's override; it is fitted on every frame with a face (`reviewed_view`). Each
clip is its own tensor problem (all its segments together), on the GPU when there is one
(`machine.fitting`): fitting clips together changed every fit's floats with the batch's shape, so
a clip's latents depended on which clips shared its batch. On a CPU the batch's clips are fitted
side by side, one per core. Rejections: FIT_DIVERGED (the objective did not go down or went
non-finite), FIT_HIGH_RESIDUAL (the model cannot explain the landmarks), FACE_NOT_FOUND (an
overridden track with no face at all). A missing track is `retry` / MISSING_INPUT, as in every
stage.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from manifests.formats.facefit import FaceFit
from manifests.formats.facetrack import FaceTrack
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from model.face.base import FaceModel
from model.face.fit import FitInput, FitResult, fit_sequences, resolve_device
from model.face.hdf5 import load_face_model
from model.face.open_model import build_open_face_model
from model.threads import single_threaded_torch
from stages.contract import StageSpec, WithMachine, guarded, missing_input, with_seconds
from stages.fitting.config import FittingConfig, FittingMachine
from stages.paths import DataRoot

log = logging.getLogger(__name__)


def ensure_open_model(cfg: FittingConfig, root: DataRoot, clips: Sequence[Clip]) -> Path | None:
    """Builds the open face model from these clips' tracks when it is configured and missing.

    Once built it is kept (its content hash names every fit made with it); rebuild it on purpose
    with `cradle build-face-model`.

    Returns:
        The model file it wrote, or None when nothing needed building.
    """
    path = root.open_face_model
    tracks = [track for clip in clips if (track := root.clip(clip.id).face_track).exists()]
    if cfg.face_model != "open" or path.exists() or not tracks:
        return None
    summary = build_open_face_model(tracks, path)
    log.info("built the open face model from %d clips, %d frames: %s",
             summary.clips, summary.frames, root.relative_text(str(path)))
    return path


def accepted_tracks(ledger: Ledger, root: DataRoot) -> list[Path]:
    """The face tracks of every clip the faces stage accepted, where the ledger says they are."""
    return sorted(attempt.output("track", root.home) or root.clip(clip_id).face_track
                  for clip_id, attempt in ledger.latest("faces").items()
                  if attempt.status is Status.OK)


def face_model_for(cfg: FittingConfig, root: DataRoot) -> FaceModel:
    """Loads the configured face model; raises FaceModelError (with what to do) when missing."""
    if cfg.face_model == "open":
        return load_face_model(root.open_face_model)
    corr = Path(cfg.correspondence) if cfg.correspondence else None
    return load_face_model(Path(cfg.face_model), corr)


FittingSettings = WithMachine[FittingConfig, FittingMachine]  # the stage's `cfg`


def run(clips: Sequence[Clip], cfg: FittingSettings, root: DataRoot) -> list[StageResult]:
    """Fits every clip's accepted segments; one result per clip."""
    model = face_model_for(cfg.section, root)
    results: dict[str, StageResult] = {}
    jobs: list[tuple[Clip, FaceTrack]] = []
    for clip in clips:
        track = guarded(STAGE.name, clip.id, partial(_load_track, clip.id, root))
        if isinstance(track, StageResult):
            results[clip.id] = track
        else:
            jobs.append((clip, track))
    workers = fit_workers(cfg.machine, len(jobs))
    with single_threaded_torch(), ThreadPoolExecutor(workers, thread_name_prefix="fit") as pool:
        fitted = list(pool.map(lambda job: _fit_clip(model, job[0], job[1], cfg, root), jobs))
    results.update((clip.id, result) for (clip, _), result in zip(jobs, fitted, strict=True))
    return [results[clip.id] for clip in clips]


def fit_workers(machine: FittingMachine, clips: int) -> int:
    """Clips fitted at once: one per core on the CPU, each on one torch thread
    (`model.threads`), one at a time on a GPU."""
    if resolve_device(machine.device).type != "cpu":
        return 1
    return max(1, min(machine.workers or len(os.sched_getaffinity(0)), clips))


def _load_track(clip_id: str, root: DataRoot) -> FaceTrack | StageResult:
    path = root.clip(clip_id).face_track
    if not path.is_file():
        return missing_input(clip_id, "face track", path, root)
    track = FaceTrack.load(path)
    if not track.accepted:
        track = reviewed_view(track)
        if not len(track.segments):
            return StageResult.rejected(clip_id, ReasonCode.FACE_NOT_FOUND,
                                        {"frames_present": 0, "review_override": True})
    elif not len(track.segments):  # the faces stage accepts no clip without one
        return StageResult.rejected(clip_id, ReasonCode.NO_LONG_SEGMENT, {"segments": 0})
    return track


def reviewed_view(track: FaceTrack) -> FaceTrack:
    """A rejected track as fitting sees it once a reviewer has overridden the rejection.

    The flows hand fitting only clips whose faces verdict passed, so a track with a `verdict`
    here was accepted by a reviewer. Its QC left it no segments and few good frames; the reviewer
    vouched for the face, so every maximal run of frames with a face becomes a segment and every
    such frame gets full weight (`good` := `present`).
    """
    present = np.asarray(track.present, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], present.astype(np.int8), [0]])))
    return replace(track, good=present, segments=edges.reshape(-1, 2).astype(np.int64))


def _fit_clip(model: FaceModel, clip: Clip, track: FaceTrack, cfg: FittingSettings,
              root: DataRoot) -> StageResult:
    started = time.perf_counter()
    inputs = []
    for start, end in track.segments:
        # Bridged gaps inside a segment carry weight 0: the temporal term fills them in.
        weights = np.repeat(track.good[start:end, None], track.landmarks.shape[1], axis=1)
        inputs.append(FitInput(track.landmarks[start:end], weights.astype(np.float32), clip.id))
    parts = fit_sequences(model, inputs, cfg.section.optimiser, cfg.machine.device)
    result = guarded(STAGE.name, clip.id, partial(
        _judge, clip, track, parts, model.model_id, cfg.section, root))
    return with_seconds(result, time.perf_counter() - started)


def _judge(clip: Clip, track: FaceTrack, parts: list[FitResult], model_id: str,
           cfg: FittingConfig, root: DataRoot) -> StageResult:
    # Non-finite losses become None: the ledger's JSON (PostgreSQL jsonb) has no NaN or inf.
    loss = {"loss_initial": [_finite(p.loss_initial) for p in parts],
            "loss_final": [_finite(p.loss_final) for p in parts]}
    if any(p.diverged for p in parts):
        return StageResult.rejected(clip.id, ReasonCode.FIT_DIVERGED, loss)
    nme = np.concatenate([p.residual_px / p.size_px for p in parts])  # (frames,)
    residual = np.concatenate([p.residual_px for p in parts])
    metrics: dict[str, Any] = {
        **loss,
        "frames_fitted": len(residual),
        "residual_px_mean": _finite(float(np.nanmean(residual))),
        "residual_px_p95": _finite(float(np.nanpercentile(residual, 95))),
        "residual_iod": _finite(float(np.nanmean(nme))),
        "model_id": model_id,
    }
    if not track.accepted:  # fitted through `reviewed_view`
        metrics["review_override"] = True
    if metrics["residual_iod"] is None or metrics["residual_iod"] > cfg.max_residual_iod:
        return StageResult.rejected(clip.id, ReasonCode.FIT_HIGH_RESIDUAL,
                                    {**metrics, "max_residual_iod": cfg.max_residual_iod})
    fit = _assemble(track, parts, model_id, cfg.optimiser.iterations)
    metrics["jitter"] = float(np.mean([np.abs(np.diff(p.expression, axis=0)).mean()
                                       for p in parts if len(p.expression) > 1] or [0.0]))
    path = fit.save(root.clip(clip.id).face_fit)
    return StageResult.ok(clip.id, metrics=metrics, outputs={"fit": path})


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _assemble(track: FaceTrack, parts: list[FitResult], model_id: str,
              iterations: int) -> FaceFit:
    """Segment fits laid out on the track's frame axis, NaN between segments."""
    t = track.frames

    def full(shape: tuple[int, ...]) -> np.ndarray:
        return np.full((t, *shape), np.nan)

    expr, rot = full(parts[0].expression.shape[1:]), full((3, 3))
    trans, scale, resid = full((2,)), full(()), full(())
    for (start, end), p in zip(track.segments, parts, strict=True):
        expr[start:end], rot[start:end], trans[start:end] = p.expression, p.rotation, p.translation
        scale[start:end], resid[start:end] = p.scale, p.residual_px
    return FaceFit(model_id=model_id, identity=parts[0].identity, age=parts[0].age,
                   expression=expr, rotation=rot, translation=trans, scale=scale,
                   residual_px=resid, segments=track.segments,
                   loss_initial=np.array([p.loss_initial for p in parts]),
                   loss_final=np.array([p.loss_final for p in parts]), iterations=iterations)


STAGE = StageSpec("fitting", "2", run, section="fitting", machine="fitting", device="gpu")
