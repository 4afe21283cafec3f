"""Test and bench helpers for the audio stage: demo-like raw audio, a tiny pyannote checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from demo import audio as au
from demo.clip import clip_rng, synthesise_audio
from demo.variants import variant
from manifests.records import Clip
from manifests.testing import dummy_clip
from stages.paths import DataRoot

SR = 16_000


def demo_mix(name: str, seed: int = 0) -> np.ndarray:
    """The audio of a demo corpus variant (clean_cry, clean_laugh, silent, adult_speech, music)."""
    return synthesise_audio(variant(name), clip_rng(seed, name))["mix"]


def cry_in_noise(snr_db: float, seed: int = 1, duration_s: float = 8.0) -> np.ndarray:
    """A synthetic cry in pink room noise at `snr_db` (cry RMS over its bursts vs noise RMS)."""
    rng = np.random.default_rng(seed)
    cry, spans = au.cry(duration_s, rng)
    noise = au.stationary_noise(duration_s, rng)
    noise = noise * 0.1 * 10 ** (-snr_db / 20) / au.active_rms(noise)
    mix = cry * 0.1 / au.active_rms(cry, spans) + noise
    return mix * 0.5 / np.abs(mix).max()


def put_raw(root: DataRoot, x: np.ndarray, index: int) -> Clip:
    """Writes `x` where the download stage would, and returns its clip."""
    clip = dummy_clip(index)
    root.raw.mkdir(parents=True, exist_ok=True)
    sf.write(root.clip(clip.id).raw_audio, np.clip(x, -1, 1), SR, subtype="PCM_16")
    return clip


def raw_path(root: DataRoot, clip: Clip) -> Path:
    return root.clip(clip.id).raw_audio


def tiny_segmentation_checkpoint(folder: Path) -> Path:
    """A randomly initialised PyanNet (3 speaker classes) saved in pyannote's checkpoint format."""
    import pytorch_lightning as pl
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    model = PyanNet(sincnet={"stride": 10})
    model.specifications = Specifications(
        problem=Problem.MULTI_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0,
        classes=["speaker1", "speaker2", "speaker3"])
    model.build()
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": pl.__version__}
    model.on_save_checkpoint(checkpoint)
    path = folder / "pytorch_model.bin"
    torch.save(checkpoint, path)
    return path
