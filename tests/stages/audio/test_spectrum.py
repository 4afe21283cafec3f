"""The shared transform and the stationary gate's shortcuts give scipy's and numpy's answers
bit for bit: the stage's outputs must not move when its arithmetic gets faster."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from stages.audio.separation import _above_db
from stages.audio.spectrum import N_FFT, analyse, synthesise
from stages.audio.testing import cry_in_noise

HOP = 160


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [16_000 * 3, 16_000 * 3 + 77, N_FFT])
def test_analyse_is_scipys_stft(n: int, dtype: type) -> None:
    x = cry_in_noise(10.0)[:n].astype(dtype)
    _, _, theirs = signal.stft(x, 16_000, window="hann", nperseg=N_FFT, noverlap=N_FFT - HOP,
                               boundary="zeros", padded=True)
    ours = analyse(x, 16_000).full
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours[:, : theirs.shape[1]], theirs)


def test_synthesise_is_scipys_istft() -> None:
    x = cry_in_noise(10.0)
    spec = analyse(x, 16_000)
    gain = np.random.default_rng(0).uniform(0.0, 1.0, (len(spec.freqs), spec.n_frames))
    padded = np.pad(gain, ((0, 0), (0, spec.full.shape[1] - spec.n_frames)), mode="edge")
    _, theirs = signal.istft(spec.full * padded, 16_000, window="hann", nperseg=N_FFT,
                             noverlap=N_FFT - HOP, boundary=True)
    assert np.array_equal(synthesise(spec, gain), theirs[: len(x)])


def test_gate_threshold_in_power_is_the_threshold_in_db() -> None:
    rng = np.random.default_rng(1)
    threshold = rng.uniform(-90.0, -20.0, 64)  # (F,)
    power = 10 ** (rng.uniform(-100.0, -10.0, (64, 500)) / 10)  # (F, T)
    power[:, :3] = 10 ** (threshold[:, None] / 10)  # on the threshold, within rounding
    power[:, 3] = np.nextafter(power[:, 0], np.inf)
    expected = 10 * np.log10(power) > threshold[:, None]
    assert np.array_equal(_above_db(power, threshold), expected)
