"""The file format between the fitting stage and the shards stage: `fits/<clip>.npz`.

Frame-aligned with the clip's FaceTrack (same T): latents and camera where a segment was fitted,
NaN elsewhere, so shards cut the same segments from the track, the audio and the fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manifests.files import atomic_save_npz, load_npz

FORMAT_VERSION = 1


@dataclass(frozen=True)
class FaceFit:
    """One clip's face-model fit.

    Attributes:
        model_id: the face model's content hash (shards record it; latents are only meaningful
            with the model that produced them).
        identity: (I,) and age: (A,) latents shared by the clip.
        expression: (T, E) per-frame expression latents; NaN outside fitted segments.
        rotation: (T, 3, 3), translation: (T, 2) px, scale: (T,) px per model unit; the camera
            maps model vertices v to image x, y = translation + scale · (R v)[:2] · (1, -1).
        residual_px: (T,) mean landmark distance of the fit; NaN where nothing was observed.
        segments: (S, 2) [start, end) fitted frame ranges.
        loss_initial, loss_final: (S,) objective per frame of each segment; convergence record.
        iterations: optimiser steps taken.
    """

    model_id: str
    identity: np.ndarray
    age: np.ndarray
    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray
    residual_px: np.ndarray
    segments: np.ndarray
    loss_initial: np.ndarray
    loss_final: np.ndarray
    iterations: int

    @property
    def frames(self) -> int:
        return len(self.expression)

    def save(self, path: Path) -> Path:
        """Writes the fit atomically as a compressed npz."""
        return atomic_save_npz(path, FORMAT_VERSION, {
            "model_id": np.array(self.model_id),
            "identity": self.identity.astype(np.float32),
            "age": self.age.astype(np.float32),
            "expression": self.expression.astype(np.float32),
            "rotation": self.rotation.astype(np.float32),
            "translation": self.translation.astype(np.float32),
            "scale": self.scale.astype(np.float32),
            "residual_px": self.residual_px.astype(np.float32),
            "segments": self.segments.astype(np.int64).reshape(-1, 2),
            "loss_initial": self.loss_initial.astype(np.float64),
            "loss_final": self.loss_final.astype(np.float64),
            "iterations": np.array(self.iterations, dtype=np.int64),
        })

    @classmethod
    def load(cls, path: Path) -> FaceFit:
        data = load_npz(path, "face fit", FORMAT_VERSION)
        return cls(model_id=str(data["model_id"]), iterations=int(data["iterations"]),
                   **{k: data[k] for k in ("identity", "age", "expression", "rotation",
                                           "translation", "scale", "residual_px", "segments",
                                           "loss_initial", "loss_final")})
