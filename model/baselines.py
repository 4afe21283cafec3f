"""The obvious alternatives a model must beat, each a predictor of one window's targets.

Each works in any target space (`truth` picks the window's expression latents or its head-frame
landmarks), so a landmark model meets the same alternatives as a latent one.

- `static`: the training split's mean target in every frame (a face that never moves).
- `energy`: an audio-energy jaw: a per-dimension linear map from the window's log RMS energy to
  the targets, least-squares fitted on the training split.
- `nearest`: the training window whose mean log-mel features are closest (cosine) to the test
  window's, its targets copied (retrieval, no learning).
- `shifted`: the ground truth 0.5 s late: a sync sanity check that a metric must punish.

The deterministic regressor with the model's backbone (FaceTalk's "without diffusion") needs
training: `model.evaluate` retrains the first checkpoint's own config with `task=regression`
(`model.ablate.REGRESSOR`) and scores it as the `regressor (no diffusion)` row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.audio.encoders import SAMPLE_RATE, MelEncoder


@dataclass(frozen=True)
class Window:
    """One evaluation window, trimmed to its real frames."""

    key: str
    clip_id: str
    label: str
    fps: float
    expression: np.ndarray  # (F, E) the fitted truth
    identity: np.ndarray  # (I,)
    age: np.ndarray  # (A,)
    audio: np.ndarray  # (S,) 16 kHz
    landmarks: np.ndarray  # (F, 468, 3) MediaPipe landmarks in the head's frame, model units

    @property
    def frames(self) -> int:
        return len(self.expression)


Predictor = Callable[[Window], np.ndarray]  # a window -> (F, K) predicted targets
Truth = Callable[[Window], np.ndarray]  # a window -> (F, K) its true targets


def expression(window: Window) -> np.ndarray:
    return window.expression


def log_energy(window: Window) -> np.ndarray:
    """(F,) log RMS of the audio under each video frame."""
    per_frame = SAMPLE_RATE / window.fps
    edges = np.round(np.arange(window.frames + 1) * per_frame).astype(int)
    rms = [np.sqrt(np.mean(window.audio[a:b] ** 2) + 1e-10) if b > a else 1e-5
           for a, b in itertools.pairwise(edges)]
    return np.log(np.asarray(rms))


def static(train: list[Window], truth: Truth = expression) -> Predictor:
    mean = np.concatenate([truth(w) for w in train]).mean(0)  # (K,)
    return lambda window: np.repeat(mean[None], window.frames, axis=0)


def energy(train: list[Window], truth: Truth = expression) -> Predictor:
    x = np.concatenate([log_energy(w) for w in train])  # (N,)
    y = np.concatenate([truth(w) for w in train])  # (N, K)
    design = np.stack([np.ones_like(x), x], 1)  # (N, 2)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)  # (2, K)
    return lambda window: np.stack([np.ones(window.frames), log_energy(window)], 1) @ coef


def nearest(train: list[Window], truth: Truth = expression) -> Predictor:
    mel = MelEncoder()

    def signature(window: Window) -> np.ndarray:
        feature = mel.encode(window.audio, window.frames).mean(0)
        return feature / (np.linalg.norm(feature) + 1e-9)

    library = np.stack([signature(w) for w in train])  # (W, D)

    def predict(window: Window) -> np.ndarray:
        match = train[int(np.argmax(library @ signature(window)))]
        idx = np.minimum(np.arange(window.frames), match.frames - 1)  # repeat its last frame
        return truth(match)[idx]

    return predict


def shifted(seconds: float = 0.5, truth: Truth = expression) -> Predictor:
    def predict(window: Window) -> np.ndarray:
        lag = round(seconds * window.fps)
        idx = np.clip(np.arange(window.frames) - lag, 0, window.frames - 1)
        return truth(window)[idx]

    return predict


def baselines(train: list[Window], truth: Truth = expression) -> dict[str, Predictor]:
    return {"static": static(train, truth), "energy": energy(train, truth),
            "nearest": nearest(train, truth), "shifted 0.5 s": shifted(0.5, truth)}
