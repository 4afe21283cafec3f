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
Under an infant three more (music under a real cry at 0 dB was found in 12 of 36 mixtures, now
26; no clean real cry or laugh gains music above the gate's limit):
- a partial may move by two bins, not one, and still "hold": a string player's vibrato swings
  it by 20-30 cents, two 15.6 Hz bins above 1 kHz;
- the infant's F0 is held over the unvoiced frames of its bout (0.3 s): the tracker drops a
  cry's hyperphonated or breathy frames while its harmonics are still there;
- only frames within 15 dB of the clip's loud ones count: a quiet room's tonal noise between
  the cries (a fan, a toy) is not music a curator would hear, music under a cry is.
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
HOLD_NEAR_BINS = 5  # a held partial stays within +-2 bins (vibrato), see above
F0_HOLD_S = 0.3  # the infant's last F0 still marks its harmonics this long after the tracker stops
LOUD_RANGE_DB = 15.0  # music is judged on frames within this of the clip's loud ones


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
    near = ndimage.maximum_filter1d(peaks.astype(np.uint8), HOLD_NEAR_BINS,
                                    axis=1).astype(bool)  # (T, F')
    # A fixed tone is one present through the clip's active frames, loud or not.
    rate = near[active[:n]].mean(axis=0) if active[:n].any() else np.zeros(near.shape[1])
    stationary = rate >= STATIONARY_RATE  # (F',)
    level = 10 * np.log10(spec.power()[:, :n].sum(axis=0) + 1e-18)  # (T,)
    if active[:n].any():
        active = active[:n] & (level > np.percentile(level[active[:n]], 95) - LOUD_RANGE_DB)
    own = infant_harmonics(freqs, held(infant_f0[:n], F0_HOLD_S),
                           spec.sr / (2 * (len(spec.freqs) - 1)))
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


def held(f0: np.ndarray, hold_s: float) -> np.ndarray:
    """`f0` (T,) with each voiced value carried forward over up to `hold_s` of unvoiced frames."""
    index = np.arange(len(f0))
    last = np.maximum.accumulate(np.where(f0 > 0, index, -1))  # (T,) last voiced frame
    keep = (last >= 0) & (index - last <= round(hold_s * FRAME_RATE))
    return np.where(keep, f0[np.maximum(last, 0)], 0.0)


def lasting(mask: np.ndarray, min_s: float, gap_s: float) -> np.ndarray:
    """`mask` without the stretches shorter than `min_s` once gaps under `gap_s` are closed."""
    gap = round(gap_s * FRAME_RATE) | 1
    closed = ndimage.binary_closing(np.pad(mask, gap), np.ones(gap))[gap:-gap] | mask
    labels, _ = ndimage.label(closed)
    lengths = np.bincount(labels.ravel())
    return mask & (lengths[labels] >= min_s * FRAME_RATE) & (labels > 0)
