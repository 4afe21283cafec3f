"""The open default face model: landmark-space PCA learned from Cradle's own face tracks.

INFACE weights are given on request only, so Cradle must run without them. This model's vertices
are the 478 MediaPipe landmarks themselves: accepted frames are Procrustes-aligned (rigid motion
and scale removed), each clip's mean shape is its identity, and the frames' deviations from it span
the expression space. It is saved in INFACE's PCA layout, so one loader reads both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import Delaunay

from manifests.facemesh import EYE_CORNERS, LANDMARKS, LIPS
from manifests.formats.facetrack import FaceTrack
from model.face.base import FaceModelError, LatentDims
from model.face.hdf5 import save_pca

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenModelConfig:
    """How the open model is built."""

    expression_components: int = 64  # INFACE's expression block is 64-d too; fewer if data is short
    identity_components: int = 16  # per-clip mean shapes are few; more would fit noise
    eye_distance: float = 70.0  # outer-canthal distance of an infant in mm: gives ~mm units
    procrustes_iterations: int = 3  # generalised Procrustes settles after two or three rounds
    max_frames: int = 20_000  # an evenly strided subset bounds the SVD's memory (~230 MB)


@dataclass(frozen=True)
class OpenModelSummary:
    """What went into a built model, for the CLI to print and the logs to keep."""

    path: Path
    clips: int
    frames: int
    dims: LatentDims
    explained_variance: float  # fraction of within-clip variance the expression block keeps


def build_open_face_model(tracks: Sequence[FaceTrack | Path], out: Path,
                          cfg: OpenModelConfig = OpenModelConfig()) -> OpenModelSummary:
    """Learns the landmark PCA model from the accepted frames of face tracks and saves it.

    Args:
        tracks: FaceTrack objects or paths of `faces/<clip>.npz` files.
        out: the HDF5 file to write (atomically).

    Raises:
        FaceModelError: fewer than two accepted frames in all the tracks.
    """
    shapes, owner = [], []
    for index, item in enumerate(tracks):
        track = item if isinstance(item, FaceTrack) else FaceTrack.load(Path(item))
        frames = accepted_frames(track)
        shapes.append(track.landmarks[frames].astype(np.float64))
        owner.append(np.full(len(frames), index))
    data = np.concatenate(shapes) if shapes else np.zeros((0, LANDMARKS, 3))
    clip = np.concatenate(owner) if owner else np.zeros(0, int)
    if len(data) > cfg.max_frames:
        keep = np.linspace(0, len(data) - 1, cfg.max_frames).round().astype(int)
        data, clip = data[keep], clip[keep]
    if len(data) < 2:
        raise FaceModelError(f"the open face model needs accepted frames; found {len(data)} "
                             f"(run the faces stage first)")
    aligned = procrustes(data * np.array([1.0, -1.0, -1.0]), cfg)  # (F, 478, 3), y up
    flat = aligned.reshape(len(aligned), -1)  # (F, 3N)
    ids = np.unique(clip)
    means = np.stack([flat[clip == c].mean(0) for c in ids])  # (C, 3N)
    mean = means.mean(0)  # (3N,)
    id_comp, id_var = _pca(means - mean, cfg.identity_components, dof=len(ids) - 1)
    within = flat - means[np.searchsorted(ids, clip)]  # (F, 3N)
    exp_comp, exp_var = _pca(within, cfg.expression_components, dof=len(flat) - len(ids))
    total = float((within**2).sum() / max(len(flat) - len(ids), 1))
    dims = LatentDims(len(id_comp), len(exp_comp), 0)
    mean_vertices = mean.reshape(LANDMARKS, 3)
    save_pca(out, mean_vertices, np.concatenate([id_comp, exp_comp]),
             np.concatenate([id_var, exp_var]), Delaunay(mean_vertices[:, :2]).simplices, dims,
             {"mediapipe": np.arange(LANDMARKS), "lips": np.array(LIPS)})
    summary = OpenModelSummary(Path(out), len(ids), len(flat), dims,
                               float(exp_var.sum() / total) if total > 0 else 1.0)
    log.debug("built the open face model %s from %d clips, %d frames: %s", Path(out).name,
             len(ids), len(flat), dims)
    return summary


def accepted_frames(track: FaceTrack) -> np.ndarray:
    """Indices of good frames inside accepted segments with every landmark finite."""
    inside = np.zeros(track.frames, bool)
    for start, end in track.segments.reshape(-1, 2):
        inside[start:end] = True
    finite = np.isfinite(track.landmarks).all(axis=(1, 2))
    return np.flatnonzero(inside & track.good & finite)


def procrustes(shapes: np.ndarray, cfg: OpenModelConfig) -> np.ndarray:
    """Generalised Procrustes: every shape (F, N, 3) rotated, scaled and moved onto a common mean.

    The mean is rescaled so that its outer eye corners lie `cfg.eye_distance` apart.
    """
    x = shapes - shapes.mean(1, keepdims=True)  # (F, N, 3)
    ref = x[0]
    for _ in range(cfg.procrustes_iterations):
        ref = ref - ref.mean(0)
        ref = ref * cfg.eye_distance / np.linalg.norm(ref[EYE_CORNERS[0]] - ref[EYE_CORNERS[1]])
        cov = np.einsum("nj,fnk->fjk", ref, x)  # (F, 3, 3)
        u, sig, vt = np.linalg.svd(cov)
        d = np.sign(np.linalg.det(u @ vt))  # (F,) keep proper rotations
        fix = np.stack([np.ones_like(d), np.ones_like(d), d], -1)  # (F, 3)
        rot = u @ (fix[..., None] * vt)  # (F, 3, 3) maps a shape onto ref
        scale = (sig * fix).sum(-1) / (x**2).sum((1, 2))  # (F,)
        aligned = scale[:, None, None] * np.einsum("fjk,fnk->fnj", rot, x)  # (F, N, 3)
        ref = aligned.mean(0)
    return aligned


def _pca(x: np.ndarray, limit: int, dof: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit principal directions (K, D) and their variances (K,), dropping null directions."""
    if dof < 1 or limit < 1:
        return np.zeros((0, x.shape[1])), np.zeros(0)
    _, sig, vt = np.linalg.svd(x, full_matrices=False)
    var = sig**2 / dof
    keep = min(limit, dof, int((var > var[0] * 1e-10).sum()) if var.size else 0)
    return vt[:keep], var[:keep]
