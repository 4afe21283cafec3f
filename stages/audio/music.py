"""Music, with or without an infant vocalising over it: sustained notes that come and go.

Notes hold their partials for hundreds of milliseconds; voices glide, so theirs move by several
bins within 150 ms. Three refinements make this hold on real recordings (measured on
../shared/fixtures: orchestral, celesta and sung pop music, phone-recorded cries):
- the infant's own harmonics are left out of the count where its F0 is known, so music under a
  cry still shows (a cry's many strong partials otherwise outnumber the music's);
- a tone present in almost every frame of the clip (mains hum, a fan's whine, a phone's
  electrical tone) is a stationary sound, not music, and is left out too;
- the verdict is per second, not per frame: music is steady over a stretch, and a single
  sustained cry note is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from stages.audio.config import AudioConfig
from stages.audio.pitch import FRAME_RATE
from stages.audio.spectrum import Spectrum

PEAK_RANGE_DB = 30.0  # spectral peaks within this of the frame's strongest one
# ...and this far above the mean level (dB) of the 17 bins around them: a partial stands out,
# while noise's local maxima (dense, a few dB high) would otherwise "persist" by chance.
PROMINENCE_DB = 8.0
MIN_PEAK_HZ, MAX_PEAK_HZ = 45.0, 4000.0  # sustained notes live here; above is mostly noise
STATIONARY_RATE = 0.9  # a bin with a peak in this share of active frames holds a fixed tone
WINDOW_S = 1.0  # music is judged over a second of frames
# Music plays for seconds: a stretch of held notes shorter than this (gaps under GAP_S closed) is
# one held tone, a hum, a horn, a motor (a phone recording's 0.8 s 73 Hz buzz read as music).
MIN_MUSIC_S = 1.5
GAP_S = 1.0  # a sung phrase or a cry over the accompaniment splits it no further
HARMONIC_TOLERANCE = 0.03  # a peak within 3 % (and 1.5 bins) of k * F0 is the infant's


@dataclass(frozen=True)
class MusicEvidence:
    """Per frame (T,): the fraction of non-infant, non-stationary peaks that persist, its
    one-second average over active frames, and the music verdict."""

    steady: np.ndarray
    windowed: np.ndarray
    music: np.ndarray
    stationary_bins: int  # fixed tones left out of the count


def spectral_peaks(spec: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima within PEAK_RANGE_DB of each frame's strongest bin, (T, F'), and their
    frequencies (F',)."""
    band = spec.band(MIN_PEAK_HZ, MAX_PEAK_HZ)
    level = 10 * np.log10(spec.power()[band].T + 1e-18)  # (T, F')
    floor = ndimage.uniform_filter1d(level, 17, axis=1, mode="nearest")
    peaks = ((level == ndimage.maximum_filter1d(level, 5, axis=1))
             & (level > level.max(axis=1, keepdims=True) - PEAK_RANGE_DB)
             & (level > floor + PROMINENCE_DB))
    return peaks, spec.freqs[band]


def infant_harmonics(freqs: np.ndarray, infant_f0: np.ndarray, bin_hz: float) -> np.ndarray:
    """(T, F') True near k * F0 where the infant's F0 is known."""
    voiced = np.flatnonzero(infant_f0 > 0)
    near = np.zeros((len(infant_f0), len(freqs)), bool)
    f0 = infant_f0[voiced][:, None]  # (V, 1): unvoiced frames, often most, cost nothing
    order = np.round(freqs[None, :] / f0)  # (V, F')
    distance = np.abs(freqs[None, :] - order * f0)
    near[voiced] = (order >= 1) & (distance <= np.maximum(1.5 * bin_hz,
                                                          HARMONIC_TOLERANCE * order * f0))
    return near


def detect_music(spec: Spectrum, active: np.ndarray, infant_f0: np.ndarray,
                 cfg: AudioConfig) -> MusicEvidence:
    """Finds music per 10 ms frame.

    Args:
        spec: the clip's spectrum.
        active: (T,) frames within the clip's loud range.
        infant_f0: (T,) the infant's F0 where tracked, else 0.
        cfg: `steady_lag_s` (how long a note must hold), `steady_fraction` (the share of peaks
            that must hold, averaged over a second).
    """
    peaks, freqs = spectral_peaks(spec)  # (T, F')
    n = len(peaks)
    near = ndimage.maximum_filter1d(peaks.astype(np.uint8), 3, axis=1).astype(bool)
    rate = near[active[:n]].mean(axis=0) if active[:n].any() else np.zeros(near.shape[1])
    stationary = rate >= STATIONARY_RATE  # (F',)
    own = infant_harmonics(freqs, infant_f0[:n], spec.sr / (2 * (len(spec.freqs) - 1)))
    counted = peaks & ~stationary[None, :] & ~own  # (T, F')
    k = max(1, round(cfg.steady_lag_s * FRAME_RATE))
    before, after = np.zeros_like(near), np.zeros_like(near)
    before[k:], after[:-k] = near[:-k], near[k:]
    steady = (counted & before & after).sum(axis=1) / np.maximum(counted.sum(axis=1), 1)
    width = round(WINDOW_S * FRAME_RATE) | 1
    weight = active[:n].astype(float)
    total = ndimage.uniform_filter1d(steady * weight, width, mode="constant")
    count = ndimage.uniform_filter1d(weight, width, mode="constant")
    windowed = np.where(count > 0.2, total / np.maximum(count, 1e-9), 0.0)
    music = lasting(active[:n] & (windowed >= cfg.steady_fraction), MIN_MUSIC_S, GAP_S)
    return MusicEvidence(steady=steady, windowed=windowed, music=music,
                         stationary_bins=int(stationary.sum()))


def lasting(mask: np.ndarray, min_s: float, gap_s: float) -> np.ndarray:
    """`mask` without the stretches shorter than `min_s` once gaps under `gap_s` are closed."""
    gap = round(gap_s * FRAME_RATE) | 1
    closed = ndimage.binary_closing(np.pad(mask, gap), np.ones(gap))[gap:-gap] | mask
    labels, _ = ndimage.label(closed)
    lengths = np.bincount(labels.ravel())
    return mask & (lengths[labels] >= min_s * FRAME_RATE) & (labels > 0)
