"""The file format between the faces stage and the fitting stage (and the review UI).

`faces/<clip>.npz` holds one clip's target face, frame by frame: MediaPipe landmarks, which frames
have a face, which pass quality control, the accepted segments, and the per-frame QC measurements
that the review UI draws as a timeline. Every judged clip has one, rejected clips too (with no
segments and the reason in `verdict`), so a reviewer can see what each frame cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from manifests.facemesh import LANDMARKS
from manifests.files import atomic_save_npz, load_npz

FORMAT_VERSION = 1


@dataclass(frozen=True)
class FaceTrack:
    """One clip's target face over time.

    Attributes:
        landmarks: (T, 478, 3) float32; x, y in pixels of the clip's frames, z in the same scale
            as x (MediaPipe's relative depth times the frame width). NaN where no face.
        present: (T,) bool, a face was found.
        good: (T,) bool, the frame passed every QC check.
        segments: (S, 2) int64 [start, end) frame ranges of accepted segments.
        fps, width, height: the clip's frame rate and frame size.
        qc: per-frame QC arrays of shape (T,), e.g. "coverage", "yaw_deg", "pitch_deg",
            "roll_deg", "face_size_px", "occlusion"; "reasons" holds a bit per reason that
            applies to the frame (bit i: `reason_names[i]`), "reason" the primary one's index
            (-1: good).
        verdict: the clip's rejection reason code, or None when it was accepted.
        reason_names: the reason codes the bits of qc["reasons"] and qc["reason"] index.
    """

    landmarks: np.ndarray
    present: np.ndarray
    good: np.ndarray
    segments: np.ndarray
    fps: float
    width: int
    height: int
    qc: dict[str, np.ndarray] = field(default_factory=dict)
    verdict: str | None = None
    reason_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        frames = len(self.landmarks)
        if self.landmarks.shape[1:] != (LANDMARKS, 3):
            raise ValueError(f"landmarks must be (T, {LANDMARKS}, 3), got {self.landmarks.shape}")
        for name, values in {"present": self.present, "good": self.good, **self.qc}.items():
            if len(values) != frames:
                raise ValueError(f"{name} has {len(values)} frames, landmarks have {frames}")
        if self.segments.size and (self.segments.ndim != 2 or self.segments.shape[1] != 2):
            raise ValueError(f"segments must be (S, 2), got {self.segments.shape}")

    @property
    def frames(self) -> int:
        return len(self.landmarks)

    @property
    def accepted(self) -> bool:
        return self.verdict is None

    def save(self, path: Path) -> Path:
        """Writes the track atomically as a compressed npz (mapped landmarks stay on disk)."""
        return atomic_save_npz(path, FORMAT_VERSION, {
            "landmarks": np.asanyarray(self.landmarks, dtype=np.float32),
            "present": self.present.astype(bool),
            "good": self.good.astype(bool),
            "segments": self.segments.astype(np.int64).reshape(-1, 2),
            "meta": np.array([self.fps, self.width, self.height], dtype=np.float64),
            "verdict": np.array(self.verdict or ""),
            "reason_names": np.array(self.reason_names, dtype=np.str_).reshape(-1),
            **{f"qc_{name}": np.asarray(values) for name, values in self.qc.items()},
        })

    @classmethod
    def load(cls, path: Path) -> FaceTrack:
        data = load_npz(path, "face track", FORMAT_VERSION)
        fps, width, height = data["meta"]
        return cls(
            landmarks=data["landmarks"],
            present=data["present"],
            good=data["good"],
            segments=data["segments"],
            fps=float(fps),
            width=int(width),
            height=int(height),
            qc={key[3:]: values for key, values in data.items() if key.startswith("qc_")},
            # Tracks written before rejected clips kept theirs have neither key: accepted.
            verdict=str(data["verdict"]) or None if "verdict" in data else None,
            reason_names=tuple(str(n) for n in data.get("reason_names", ())),
        )
