"""pyannote.audio models for the audio stage: speech activity, overlapped speech, separation.

Checkpoints are Hugging Face ids (token from the environment) or local paths, loaded through
pyannote's own `Model.from_pretrained` and run through `Inference`, so a test's tiny random model
and a published checkpoint take the same path. torch and pyannote are imported lazily: the
weight-free path never pays for them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from manifests.errors import CradleError
from stages.audio.config import AudioConfig
from stages.audio.pitch import FRAME_RATE

log = logging.getLogger(__name__)


class AudioModelError(CradleError):
    """A configured pyannote checkpoint cannot be loaded or does not fit its role."""


@dataclass
class PyannoteModels:
    """The models loaded once per batch; either may be absent."""

    segmentation: Any | None  # pyannote.audio.Inference over a segmentation model
    separation: Any | None  # pyannote.audio.Model whose forward returns (activity, sources)

    @classmethod
    def load(cls, cfg: AudioConfig, torch_threads: int = 1) -> PyannoteModels | None:
        """Loads the configured checkpoints; None when none is configured (weight-free path).

        Args:
            torch_threads: torch threads for this process (a machine setting, `machine.audio`).

        Raises:
            AudioModelError: a checkpoint is missing, private without a token, or malformed.
        """
        if not (cfg.segmentation_checkpoint or cfg.separation_checkpoint):
            return None
        os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")  # no telemetry on infant data
        import torch
        from pyannote.audio import Inference

        torch.set_num_threads(torch_threads)
        segmentation = None
        if cfg.segmentation_checkpoint:
            model = _load(cfg.segmentation_checkpoint, cfg)
            duration = float(model.specifications.duration)
            segmentation = Inference(model, window="sliding", duration=duration,
                                     step=duration / 2)
        separation = _load(cfg.separation_checkpoint, cfg) if cfg.separation_checkpoint else None
        return cls(segmentation, separation)

    def speech(self, x: np.ndarray, sr: int,
               n_frames: int) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """Speech and overlapped-speech activity (0-1) at 100 frames per second.

        Speech is the most active speaker class; overlap is the second most active one, as
        pyannote's own overlapped speech detection reads a segmentation model.
        """
        if self.segmentation is None:
            return None, None
        import torch

        waveform = torch.from_numpy(x.astype(np.float32))[None]  # (1, T)
        scores = self.segmentation({"waveform": waveform, "sample_rate": sr})
        data = np.asarray(scores.data, dtype=float)  # (F, K)
        ranked = np.sort(data, axis=1)[:, ::-1]
        window = scores.sliding_window
        centres = (np.arange(n_frames) + 0.5) / FRAME_RATE
        index = np.clip(np.round((centres - window.start - window.duration / 2) / window.step),
                        0, len(data) - 1).astype(int)
        second = ranked[:, 1] if data.shape[1] > 1 else np.zeros(len(data))
        return ranked[index, 0], second[index]

    def separate(self, x: np.ndarray) -> np.ndarray | None:
        """The separated sources, (S, T), or None when no separation model is configured."""
        if self.separation is None:
            return None
        import torch

        sr = int(self.separation.hparams.sample_rate)
        chunk = int(self.separation.specifications.duration * sr)
        n_chunks = max(1, int(np.ceil(len(x) / chunk)))
        padded = np.pad(x.astype(np.float32), (0, n_chunks * chunk - len(x)))
        batch = torch.from_numpy(padded.reshape(n_chunks, 1, chunk))  # (B, 1, T)
        with torch.inference_mode():
            output = self.separation(batch)
        if not isinstance(output, tuple) or len(output) != 2:
            raise AudioModelError("separation_checkpoint is not a separation model: its forward "
                                  "must return (activity, sources), like ToTaToNet")
        sources = output[1].numpy()  # (B, T, S)
        return sources.transpose(2, 0, 1).reshape(sources.shape[2], -1)[:, : len(x)]


def _load(checkpoint: str, cfg: AudioConfig) -> Any:
    from pyannote.audio import Model

    token = os.environ.get(cfg.hf_token_env) or None
    try:
        model = Model.from_pretrained(checkpoint, token=token)
    except Exception as e:  # many hub and torch errors; all mean "this checkpoint won't load"
        raise AudioModelError(f"cannot load pyannote checkpoint {checkpoint!r}: {e}. Give a "
                              f"local path or a Hugging Face id with a token in "
                              f"${cfg.hf_token_env}") from e
    if model is None:
        raise AudioModelError(f"pyannote checkpoint {checkpoint!r} was not found")
    model.eval()
    log.info("loaded pyannote checkpoint %s (%s)", checkpoint, type(model).__name__)
    return model
