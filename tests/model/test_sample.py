"""Sampling any audio length: windows cover every frame and crossfade without seams; bfloat16
sampling stays close to float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.checkpoint import TrainedModel
from model.denoiser import Denoiser, DenoiserConfig
from model.diffusion import Diffusion
from model.sample import SampleConfig, crossfade_weights, generate, windows
from model.targets import Targets
from model.train_config import load_preset


def test_windows_cover_every_frame_and_the_weights_sum_to_one() -> None:
    for frames, window, overlap in ((300, 120, 30), (121, 120, 30), (50, 120, 30), (1000, 60, 15)):
        starts = windows(frames, window, overlap)
        weights = crossfade_weights(starts, frames, window)
        total = np.zeros(frames)
        for w, start in enumerate(starts):
            n = min(window, frames - start)
            total[start:start + n] += weights[w, :n]
        assert starts[0] == 0 and min(frames, starts[-1] + window) == frames
        assert np.allclose(total, 1.0)


def test_the_crossfade_is_linear_and_leaves_one_windows_frames_alone() -> None:
    starts = windows(200, 120, 40)
    weights = crossfade_weights(starts, 200, 120)
    assert starts == [0, 80]
    assert np.allclose(weights[0, :80], 1.0)  # before the overlap: the first window only
    ramp = weights[1, :40]
    assert np.all(np.diff(ramp) > 0) and np.allclose(np.diff(ramp), np.diff(ramp)[0])


def untrained_model(width: int = 32) -> TrainedModel:
    """A small random denoiser wrapped as a checkpoint would load it."""
    cfg = DenoiserConfig(latent_dim=8, audio_dim=16, width=width, layers=2, heads=2, band=1)
    torch.manual_seed(0)
    preset = load_preset("infant-diffusion")
    return TrainedModel(preset, cfg, Denoiser(cfg).eval(),
                        Targets("expression", torch.zeros(8), torch.ones(8)),
                        Diffusion(preset.diffusion), None, 0, 30.0)


def test_bfloat16_sampling_stays_close_to_float32_and_each_is_repeatable() -> None:
    model = untrained_model()
    features = np.random.default_rng(0).standard_normal((150, 16)).astype("f4")
    exact = generate(model, features, SampleConfig(steps=5, precision="float32"))
    fast = generate(model, features, SampleConfig(steps=5, precision="bfloat16"))
    assert np.array_equal(fast, generate(model, features, SampleConfig(steps=5,
                                                                       precision="bfloat16")))
    assert not np.array_equal(exact, fast)  # bfloat16 did run
    assert np.abs(exact - fast).max() < 0.05 * np.abs(exact).max()


def test_an_unknown_precision_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        SampleConfig(precision="half")
