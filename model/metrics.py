"""Lip-sync and motion metrics as the published anchors compute them (see DOMAIN.md).

All take numpy arrays of one sequence (or, for LVE, pooled frames) in the face model's units:
- LVE (lip vertex error), as the CodeTalker family computes it: per frame, the largest squared L2
  distance over the lip vertices; the mean over every frame. `sqrt` of it is in model units.
- DTW of the mouth-aperture trajectories, normalised by the warping path's length; DDTW on their
  derivatives (Keogh & Pazzani's estimate), which compares the shape of openings and closings.
- L-PCC (Pearson) and L-CCC (Lin's concordance) of lip motion: on the aperture, and on each lip
  vertex's vertical displacement from its sequence mean, averaged over the vertices.
- Diversity: mean pairwise per-vertex distance between samples for the same audio (FaceTalk).
- FDD: upper-face dynamics deviation, the difference of each upper-face vertex's temporal
  standard deviation of motion, predicted vs true, averaged (FaceFormer).
- MVE: mean per-vertex L2 error. Jitter: mean lip-vertex acceleration magnitude.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import librosa
import numpy as np


def lve(pred_lips: np.ndarray, true_lips: np.ndarray) -> float:
    """Mean over frames of max over lip vertices of ||pred - true||²; (F, L, 3) each."""
    _same_shape(pred_lips, true_lips, 3)
    squared = ((pred_lips - true_lips) ** 2).sum(-1)  # (F, L)
    return float(squared.max(-1).mean())


def dtw(pred: np.ndarray, true: np.ndarray) -> float:
    """Dynamic time warping cost of two 1-D trajectories (F,), divided by the path's length."""
    _same_shape(pred, true, 1)
    cost, path = librosa.sequence.dtw(pred[None].astype(np.float64),
                                      true[None].astype(np.float64), metric="euclidean")
    return float(cost[-1, -1] / len(path))


def ddtw(pred: np.ndarray, true: np.ndarray) -> float:
    """DTW on derivative estimates ((x_i - x_i-1) + (x_i+1 - x_i-1) / 2) / 2 (Keogh & Pazzani)."""
    return dtw(_derivative(pred), _derivative(true))


def pcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson correlation of two 1-D series; with a constant one: 1 if equal, else 0."""
    _same_shape(pred, true, 1)
    if _constant(pred) or _constant(true):
        return 1.0 if np.allclose(pred, true) else 0.0
    a, b = pred - pred.mean(), true - true.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def ccc(pred: np.ndarray, true: np.ndarray) -> float:
    """Lin's concordance: 2 cov / (var_p + var_t + (mean_p - mean_t)²), population moments."""
    _same_shape(pred, true, 1)
    covariance = ((pred - pred.mean()) * (true - true.mean())).mean()
    denominator = pred.var() + true.var() + (pred.mean() - true.mean()) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else 1.0


def lip_displacement(lips: np.ndarray) -> np.ndarray:
    """(F, L, 3) lip vertices -> (F, L) vertical displacement of each from its sequence mean."""
    return lips[..., 1] - lips[..., 1].mean(0)


def vertex_pcc(pred_lips: np.ndarray, true_lips: np.ndarray) -> float:
    """L-PCC on per-lip-vertex vertical displacement, averaged over the lip vertices that move."""
    return _over_moving_vertices(pcc, pred_lips, true_lips)


def vertex_ccc(pred_lips: np.ndarray, true_lips: np.ndarray) -> float:
    """L-CCC on per-lip-vertex vertical displacement, averaged over the lip vertices that move."""
    return _over_moving_vertices(ccc, pred_lips, true_lips)


def _over_moving_vertices(metric: Callable[[np.ndarray, np.ndarray], float],
                          pred_lips: np.ndarray, true_lips: np.ndarray) -> float:
    _same_shape(pred_lips, true_lips, 3)
    pred, true = lip_displacement(pred_lips), lip_displacement(true_lips)
    moving = [v for v in range(true.shape[1]) if true[:, v].std() > 1e-9]
    if not moving:  # a still truth: only a still prediction follows it
        return 1.0 if np.allclose(pred, true) else 0.0
    return float(np.mean([metric(pred[:, v], true[:, v]) for v in moving]))


def diversity(samples: np.ndarray) -> float:
    """Mean over pairs of K samples (K, F, N, 3) of their mean per-vertex L2 distance."""
    if len(samples) < 2:
        raise ValueError("diversity needs at least two samples of the same audio")
    pairs = itertools.combinations(range(len(samples)), 2)
    return float(np.mean([mve(samples[i], samples[j]) for i, j in pairs]))


def fdd(pred_upper: np.ndarray, true_upper: np.ndarray) -> float:
    """Mean |std_t ||v_t - mean v||, predicted - true| over upper-face vertices; (F, U, 3)."""
    _same_shape(pred_upper, true_upper, 3)

    def dynamics(vertices: np.ndarray) -> np.ndarray:
        return np.linalg.norm(vertices - vertices.mean(0), axis=-1).std(0)  # (U,)

    return float(np.abs(dynamics(pred_upper) - dynamics(true_upper)).mean())


def mve(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean per-vertex L2 error over frames and vertices; (F, N, 3) each."""
    _same_shape(pred, true, 3)
    return float(np.linalg.norm(pred - true, axis=-1).mean())


def jitter(lips: np.ndarray) -> float:
    """Mean lip-vertex acceleration magnitude (second differences, per frame²); (F, L, 3)."""
    if len(lips) < 3:
        return 0.0
    return float(np.linalg.norm(np.diff(lips, n=2, axis=0), axis=-1).mean())


def _constant(x: np.ndarray) -> bool:
    """Still up to float rounding (a decoded static face wobbles by ~1e-7 of its size)."""
    return bool(x.std() <= 1e-6 * (1.0 + np.abs(x).mean()))


def _derivative(x: np.ndarray) -> np.ndarray:
    if len(x) < 3:
        return np.zeros_like(x)
    inner = ((x[1:-1] - x[:-2]) + (x[2:] - x[:-2]) / 2) / 2
    return np.concatenate([inner[:1], inner, inner[-1:]])


def _same_shape(a: np.ndarray, b: np.ndarray, ndim: int) -> None:
    if a.shape != b.shape or a.ndim != ndim:
        raise ValueError(f"expected two arrays of the same {ndim}-d shape, got {a.shape} and "
                         f"{b.shape}")
