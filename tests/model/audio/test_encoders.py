"""Audio encoders: the production loading path on tiny local models, frame alignment, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.audio.cache import FeatureCache
from model.audio.encoders import (
    AudioEncoderError,
    ConcatEncoder,
    MelEncoder,
    load_encoder,
    to_frames,
)
from model.audio.testing import tiny_wav2vec2
from tests.model.conftest import one_torch_thread  # noqa: F401  (autouse: small problems)

SR = 16_000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_wav2vec2(tmp_path_factory.mktemp("wav2vec2"))


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (0.1 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_a_local_checkpoint_loads_through_the_production_path_frozen(
        checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder(f"wav2vec2:{checkpoint}")
    features = encoder.encode(tone(2.0), frames=60)  # 2 s at 30 fps
    assert features.shape == (60, 32) and features.dtype == np.float32
    model = encoder.model  # type: ignore[attr-defined]
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    again = load_encoder(f"wav2vec2:{checkpoint}")
    assert again.encoder_id == encoder.encoder_id  # the weights' hash names the features


def test_a_model_with_another_frame_rate_is_refused_with_what_to_do(tmp_path: Path) -> None:
    folder = tiny_wav2vec2(tmp_path, conv_stride=(5, 2, 2, 2, 2, 2, 1))
    with pytest.raises(AudioEncoderError, match="160 samples per feature, not 320"):
        load_encoder(f"wav2vec2:{folder}")


def test_a_missing_voc2vec_says_which_setting_to_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AudioEncoderError, match="mel"):
        load_encoder("voc2vec")


def test_interpolation_puts_the_first_and_last_feature_on_the_first_and_last_frame() -> None:
    features = torch.tensor([[0.0], [10.0], [20.0]])  # (N=3, D=1)
    assert to_frames(features, 5)[:, 0].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert to_frames(features[:1], 3)[:, 0].tolist() == [0.0, 0.0, 0.0]


def test_mel_and_concatenated_encoders_give_one_row_per_frame(checkpoint: Path) -> None:
    mel = load_encoder("mel")
    assert isinstance(mel, MelEncoder) and mel.encode(tone(1.0), 30).shape == (30, 80)
    both = load_encoder(f"mel+wav2vec2:{checkpoint}")
    assert isinstance(both, ConcatEncoder) and both.dim == 80 + 32
    assert both.encode(tone(1.0), 30).shape == (30, 112)
    with pytest.raises(AudioEncoderError, match="unknown audio encoder"):
        load_encoder("whisper")


def test_the_cache_encodes_each_clip_once_and_tells_clips_apart(tmp_path: Path) -> None:
    calls: list[int] = []

    class Counting(MelEncoder):
        def encode(self, wave: np.ndarray, frames: int) -> np.ndarray:
            calls.append(frames)
            return super().encode(wave, frames)

    cache = FeatureCache(tmp_path, Counting())
    first = cache.features(tone(1.0), 30)
    assert np.array_equal(cache.features(tone(1.0), 30), first)
    assert calls == [30]  # the second epoch read it back
    cache.features(tone(1.0, hz=220.0), 30)
    cache.features(tone(1.0), 25)
    assert calls == [30, 30, 25]
    assert len(list(tmp_path.glob("*.npy"))) == 3
