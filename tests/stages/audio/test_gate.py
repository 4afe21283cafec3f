"""The stage's stationary gate is noisereduce's, computed on the stage's own transform."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import noisereduce
import numpy as np

from demo import audio as au
from stages.audio.config import AudioConfig
from stages.audio.pitch import FRAME_RATE
from stages.audio.separation import stationary_gate
from stages.audio.spectrum import N_FFT, analyse, synthesise
from stages.audio.testing import si_sdr

SR = 16_000


def test_the_gate_on_the_shared_transform_matches_noisereduce() -> None:
    """It replaced a noisereduce call (a fifth of the stage's time, on its own two transforms):
    the same threshold and smoothing must give noisereduce's output, not a look-alike."""
    rng = np.random.default_rng(3)
    x = 0.05 * au.stationary_noise(6.0, rng)
    cry, spans = au.cry(6.0, rng)
    x[2 * SR:] += 0.1 * cry[2 * SR:len(x)] / au.active_rms(cry, spans)  # 2 s of room noise first
    frames = len(x) // (SR // FRAME_RATE)
    quiet = np.arange(frames) < 2 * FRAME_RATE - 5  # the background, clear of the first cry
    activity: Any = SimpleNamespace(  # the fields the gate reads of a FrameActivity
        infant_region=~quiet, interferer=np.zeros(frames, bool),
        other_voice=np.zeros(frames, bool), level_db=np.zeros(frames), n_frames=frames)
    cfg = AudioConfig()
    spec = analyse(x, SR)
    ours = synthesise(spec, stationary_gate(spec, np.ones((len(spec.freqs), spec.n_frames)),
                                            activity, cfg))
    theirs = noisereduce.reduce_noise(y=x, sr=SR, stationary=True,
                                      y_noise=x[:int(quiet.sum()) * SR // FRAME_RATE],
                                      prop_decrease=cfg.prop_decrease, n_fft=N_FFT)
    n = min(len(ours), len(theirs))
    assert si_sdr(x[:n], theirs[:n]) < 30.0  # the gate does change the clip...
    assert si_sdr(ours[:n], theirs[:n]) > 40.0  # ...and both change it the same way


def test_noise_removal_stays_within_its_budget() -> None:
    """What the noise gains take out is at most `max_noise_removed_db` of the clip's energy: a
    gain that removes more is eased towards 1 (down to exactly the budget), one within it is
    left as it is, and the interferer's gain is never eased."""
    from stages.audio.separation import within_budget

    spec = analyse(0.1 * au.stationary_noise(3.0, np.random.default_rng(5)), SR)
    power = spec.power()
    interferer = np.ones_like(power)
    for noise, removed_db in ((np.full_like(power, 0.05), -12.0), (np.full_like(power, 0.99),
                                                                    None)):
        eased = within_budget(spec, interferer, noise, budget_db=-12.0)
        removed = 10 * np.log10(np.sum(power * (1 - eased) ** 2) / np.sum(power))
        if removed_db is None:
            assert np.array_equal(eased, noise)
        else:
            assert abs(removed - removed_db) < 1e-6 and (eased > noise).all()
