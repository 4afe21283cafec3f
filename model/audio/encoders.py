"""Frozen audio encoders that turn a clip's 16 kHz audio into one feature vector per video frame.

`load_encoder(spec)` takes:
- `voc2vec`: the default, Hugging Face `alkiskoudounas/voc2vec-ls-pt` (a wav2vec2-base model
  pre-trained on non-verbal vocalisations), loaded with transformers' `AutoFeatureExtractor` and
  `AutoModel`, frozen and in eval mode;
- `wav2vec2:<id or local folder>`: any other wav2vec2 / HuBERT checkpoint through the same code;
- `mel`: a weight-free log-mel encoder (torchaudio), so that everything runs offline;
- several joined by `+` (e.g. `wav2vec2:A+wav2vec2:B`): their features concatenated per frame.

Features are linearly interpolated to the clip's frame count with `align_corners=True`, as the
FaceFormer family does, so the first and last feature land on the first and last frame.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch.nn import functional as F

from manifests.errors import CradleError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Hz: what the download stage writes and wav2vec2 models expect
VOC2VEC = "alkiskoudounas/voc2vec-ls-pt"
WAV2VEC2_HOP = 320  # samples per wav2vec2 frame (conv strides 5·2⁶): 50 Hz at 16 kHz


class AudioEncoderError(CradleError):
    """An encoder cannot be loaded or does not fit the audio it is given; the message says why."""


class AudioEncoder(Protocol):
    """One feature vector per video frame for a clip's waveform."""

    @property
    def encoder_id(self) -> str:
        """Names the encoder and its weights: equal ids give equal features (the cache key)."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, wave: np.ndarray, frames: int) -> np.ndarray:
        """(S,) float audio at 16 kHz → (frames, dim) float32 features."""
        ...


def to_frames(features: torch.Tensor, frames: int) -> torch.Tensor:
    """(N, D) features at the encoder's rate → (frames, D), linear with aligned corners."""
    if frames <= 0:
        return features.new_zeros((0, features.shape[1]))
    if len(features) == 1:
        return features.expand(frames, -1)
    moved = features.T[None]  # (1, D, N)
    return F.interpolate(moved, size=frames, mode="linear", align_corners=True)[0].T  # (T, D)


@dataclass(frozen=True)
class MelEncoder:
    """Log-mel filterbank energies: weight-free, for the demo and for machines without weights."""

    n_mels: int = 80  # the usual speech front end
    n_fft: int = 400  # 25 ms windows...
    hop: int = 160  # ...every 10 ms: 100 Hz, finer than any video frame rate

    @property
    def encoder_id(self) -> str:
        return f"mel-{self.n_mels}-{self.n_fft}-{self.hop}"

    @property
    def dim(self) -> int:
        return self.n_mels

    def encode(self, wave: np.ndarray, frames: int) -> np.ndarray:
        import torchaudio

        mel = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=self.n_fft,
                                                   hop_length=self.hop, n_mels=self.n_mels)
        x = torch.as_tensor(np.asarray(wave, np.float32))  # (S,)
        with torch.inference_mode():
            energies = torch.log(mel(x) + 1e-6).T  # (N, n_mels)
            return to_frames(energies, frames).numpy().astype(np.float32)


class Wav2Vec2Encoder:
    """A frozen wav2vec2-family model's last hidden states, at the video frame rate."""

    def __init__(self, name: str, device: str = "cpu") -> None:
        from transformers import AutoFeatureExtractor, AutoModel

        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(name)
            self.model = AutoModel.from_pretrained(name)
        except (OSError, ValueError) as e:
            raise AudioEncoderError(
                f"cannot load the audio encoder {name!r}: {e}. Without a model hub, download it "
                "where one is reachable and name its local folder (`wav2vec2:<folder>`), or use "
                "the weight-free `mel` encoder.") from e
        hop = math.prod(getattr(self.model.config, "conv_stride", ()))
        if hop != WAV2VEC2_HOP:
            raise AudioEncoderError(
                f"{name!r} has conv strides {tuple(self.model.config.conv_stride)} = {hop} "
                f"samples per feature, not {WAV2VEC2_HOP} (50 Hz at 16 kHz): its features would "
                "not line up with the video. Use a wav2vec2-base-shaped checkpoint.")
        self.model.eval().requires_grad_(False).to(device)
        self.device = device
        self.name = name
        self._id = f"wav2vec2:{name}@{_weights_hash(self.model)}"

    @property
    def encoder_id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, wave: np.ndarray, frames: int) -> np.ndarray:
        inputs = self.extractor(np.asarray(wave, np.float32), sampling_rate=SAMPLE_RATE,
                                return_tensors="pt")
        values = inputs["input_values"].to(self.device)  # (1, S)
        with torch.inference_mode():
            hidden = self.model(values).last_hidden_state[0]  # (N, D)
            return to_frames(hidden.float().cpu(), frames).numpy().astype(np.float32)


@dataclass(frozen=True)
class ConcatEncoder:
    """Several encoders side by side (Animote pairs a phonetic and an emotion wav2vec2)."""

    parts: tuple[AudioEncoder, ...]

    @property
    def encoder_id(self) -> str:
        return "+".join(part.encoder_id for part in self.parts)

    @property
    def dim(self) -> int:
        return sum(part.dim for part in self.parts)

    def encode(self, wave: np.ndarray, frames: int) -> np.ndarray:
        return np.concatenate([part.encode(wave, frames) for part in self.parts], axis=1)


def load_encoder(spec: str, device: str = "cpu") -> AudioEncoder:
    """The encoder a spec names (see the module docstring).

    Raises:
        AudioEncoderError: an unknown spec, weights that cannot be loaded, or a model whose
            feature rate does not fit.
    """
    names = [part.strip() for part in spec.split("+") if part.strip()]
    if len(names) > 1:
        return ConcatEncoder(tuple(load_encoder(name, device) for name in names))
    name = names[0] if names else ""
    if name == "mel":
        return MelEncoder()
    if name == "voc2vec":
        return Wav2Vec2Encoder(VOC2VEC, device)
    if name.startswith("wav2vec2:") and len(name) > len("wav2vec2:"):
        return Wav2Vec2Encoder(name.removeprefix("wav2vec2:"), device)
    raise AudioEncoderError(f"unknown audio encoder {spec!r}: use voc2vec, mel, "
                            "wav2vec2:<id or folder>, or several joined by +")


def _weights_hash(model: torch.nn.Module) -> str:
    """A content hash of the weights, so a cache never serves features of other weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
