"""Synthetic face models and landmark sequences with known latents, for tests and benchmarks.

Real INFACE weights are not public and real infant tracks are not in the repository, so fitting
is checked on data synthesised from a known model: known latents, known camera, pixel noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from manifests.facemesh import APERTURE, EYE_CORNERS, LANDMARKS, LIPS, MOUTH_CORNERS
from manifests.formats.facetrack import FaceTrack
from model.face.base import FaceModel, LatentDims
from model.face.camera import rodrigues
from model.face.hdf5 import save_pca

# Fixed anchor points (mm, y up, z towards the viewer) so the synthetic face has a face's layout.
_ANCHORS = {EYE_CORNERS[0]: (-35.0, 20.0), EYE_CORNERS[1]: (35.0, 20.0),
            MOUTH_CORNERS[0]: (-22.0, -30.0), MOUTH_CORNERS[1]: (22.0, -30.0),
            APERTURE[0]: (0.0, -29.0), APERTURE[1]: (0.0, -33.0)}


def synthetic_pca_arrays(dims: LatentDims, seed: int = 0) -> dict[str, np.ndarray]:
    """A mean face on an ellipsoid cap and orthonormal components with decaying variance (mm²)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1, 1, (LANDMARKS, 2)) * np.array([55.0, 65.0])
    for index, point in _ANCHORS.items():
        xy[index] = point
    z = 40.0 * np.sqrt(np.clip(1 - (xy[:, 0] / 70) ** 2 - (xy[:, 1] / 80) ** 2, 0.05, 1))
    mean = np.concatenate([xy, z[:, None]], 1)  # (N, 3)
    q, _ = np.linalg.qr(rng.standard_normal((3 * LANDMARKS, dims.total)))
    std = np.concatenate([40.0 * 0.8 ** np.arange(dims.identity),
                          30.0 * 0.93 ** np.arange(dims.expression), np.full(dims.age, 20.0)])
    return {"mean": mean, "components": q.T, "eigenvalues": std**2}


def write_synthetic_pca(path: Path, dims: LatentDims, seed: int = 0) -> Path:
    """A synthetic landmark-space PCA file in INFACE's layout (identity correspondence)."""
    arrays = synthetic_pca_arrays(dims, seed)
    return save_pca(path, arrays["mean"], arrays["components"], arrays["eigenvalues"],
                    np.array([[0, 1, 2]]), dims,
                    {"mediapipe": np.arange(LANDMARKS), "lips": np.array(LIPS)})


@dataclass(frozen=True)
class Synthetic:
    """A synthesised sequence: noisy pixel landmarks and the truth behind them."""

    landmarks: np.ndarray  # (T, 478, 3) px, with noise on x and y
    clean: np.ndarray  # (T, 478, 3) px, without noise
    identity: np.ndarray  # (I,)
    expression: np.ndarray  # (T, E)


def synthesise(model: FaceModel, frames: int, seed: int = 0, noise_px: float = 1.0,
               fps: float = 30.0, eye_px: float = 60.0, max_hz: float = 0.5) -> Synthetic:
    """Smooth expression and head motion from the model's prior, rendered with pixel noise.

    Expression is a sum of slow sinusoids (0.05 Hz to `max_hz`) per component with the prior's
    spread, so the truth moves like a face and frame-to-frame jitter in a fit is the fit's own.
    """
    rng = np.random.default_rng(seed)
    dims = model.dims
    t = np.arange(frames)[:, None] / fps  # (T, 1)
    sd_i, sd_e, sd_a = (x.cpu().numpy().astype(np.float64) for x in model.split(model.latent_std))
    mu_i, mu_e, mu_a = model.split(model.latent_mean)
    identity = rng.standard_normal(dims.identity) * sd_i
    age = rng.standard_normal(dims.age) * sd_a
    freq = rng.uniform(0.05, max_hz, (2, dims.expression))
    phase = rng.uniform(0, 2 * np.pi, (2, dims.expression))
    wave = np.sin(2 * np.pi * freq[0] * t + phase[0]) + np.sin(2 * np.pi * freq[1] * t + phase[1])
    expression = 0.7 * wave * sd_e  # (T, E)
    omega = 0.2 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5, 3) * t + rng.uniform(0, 6, 3))
    with torch.no_grad():
        verts = model.landmarks(
            (mu_i + torch.as_tensor(identity, dtype=torch.float32)).expand(frames, -1),
            mu_e + torch.as_tensor(expression, dtype=torch.float32),
            (mu_a + torch.as_tensor(age, dtype=torch.float32)).expand(frames, -1))  # (T, M, 3)
        rot = rodrigues(torch.as_tensor(omega, dtype=torch.float32))  # (T, 3, 3)
        cam = verts @ rot.transpose(-1, -2)  # (T, M, 3)
    scale = eye_px / 70.0
    drift = np.concatenate([320 + 20 * np.sin(0.5 * t), 240 + 10 * np.cos(0.4 * t)], 1)  # (T, 2)
    clean = np.full((frames, LANDMARKS, 3), np.nan)
    corr = model.correspondence.landmarks
    cam_np = cam.numpy().astype(np.float64) * scale * np.array([1.0, -1.0, -1.0])  # (T, M, 3)
    clean[:, corr] = cam_np + np.concatenate([drift, np.zeros((frames, 1))], 1)[:, None]
    noisy = clean.copy()
    noisy[..., :2] += rng.normal(0, noise_px, (frames, LANDMARKS, 2))
    return Synthetic(noisy, clean, identity, expression)


def synthetic_track(model: FaceModel, frames: int, seed: int = 0,
                    segments: tuple[tuple[int, int], ...] | None = None,
                    noise_px: float = 1.0) -> tuple[FaceTrack, Synthetic]:
    """A FaceTrack of a synthesised sequence, all frames good, as the faces stage would save it."""
    synth = synthesise(model, frames, seed, noise_px)
    segs = np.array(segments or ((0, frames),), dtype=np.int64)
    track = FaceTrack(landmarks=synth.landmarks.astype(np.float32),
                      present=np.ones(frames, bool), good=np.ones(frames, bool), segments=segs,
                      fps=30.0, width=640, height=480)
    return track, synth
