"""Per-clip feature cache: a second epoch or a second run never re-encodes a clip's audio.

The key is the encoder id (which names its weights' hash), the audio's sha256 and the frame
count, so new weights or new audio never meet stale features.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from manifests.files import atomic_path
from model.audio.encoders import AudioEncoder


class FeatureCache:
    """Features on disk under `folder`, one .npy per (encoder, audio, frames)."""

    def __init__(self, folder: Path, encoder: AudioEncoder) -> None:
        self.folder = Path(folder)
        self.encoder = encoder

    def features(self, wave: np.ndarray, frames: int) -> np.ndarray:
        """(frames, dim) float32 features of `wave`, from the cache or encoded and stored."""
        audio = np.ascontiguousarray(wave, dtype=np.float32)
        path = self.path(audio, frames)
        if path.is_file():
            return np.load(path)
        features = self.encoder.encode(audio, frames)
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            np.save(out, features, allow_pickle=False)
        return features

    def path(self, audio: np.ndarray, frames: int) -> Path:
        key = hashlib.sha256(self.encoder.encoder_id.encode())
        key.update(hashlib.sha256(audio.tobytes()).digest())
        key.update(str(frames).encode())
        return self.folder / f"{key.hexdigest()[:32]}.npy"
