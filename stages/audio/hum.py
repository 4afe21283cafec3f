"""Mains hum, found and notched out before anything listens to the clip.

A phone or camera near mains wiring records 50 or 60 Hz and its harmonics under everything. Left
in, it changes what the detectors hear: with a 50 Hz hum 20 dB below the clip, Silero heard
speech on twice as many frames of a real burping cry (donateacry 79FF400A) and the clip was
rejected as `adult_speech` (bench/robustness.py). Hum is a line spectrum that stays put for the
whole clip, which no voice and no cry does, so it is found on the clip's average spectrum and
removed with narrow notches; a clip without it is left untouched.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

MAINS_HZ = (50.0, 60.0)
# A harmonic is hum when the clip's average spectrum (1 Hz bins) stands this far above its
# neighbourhood (3-15 Hz away) at k * mains; a clip hums when two of the first three do (small
# microphones lose the fundamental, so it alone cannot be required).
PROMINENCE_DB = 10.0
FIRST_HARMONICS = 3
MAX_HUM_HZ = 1000.0  # notches go no higher: above, a hum's harmonics are lost in everything else
NOTCH_Q = 30.0  # 1.7 Hz wide at 50 Hz, 33 Hz at 1 kHz: the mains drift and nothing more


def _prominence_db(freqs: np.ndarray, power: np.ndarray, hz: float) -> float:
    """How far the average spectrum's peak within 1 Hz of `hz` stands above its neighbourhood."""
    distance = np.abs(freqs - hz)
    peak = power[distance <= 1.0]
    around = power[(distance >= 3.0) & (distance <= 15.0)]
    if not peak.size or not around.size:
        return 0.0
    return float(10 * np.log10(max(peak.max(), 1e-30) / max(np.median(around), 1e-30)))


def find_hum(x: np.ndarray, sr: int) -> tuple[float, list[float]] | None:
    """The mains frequency and the harmonics (Hz) that stand out, or None without hum."""
    if len(x) < sr:
        return None
    freqs, power = signal.welch(x, sr, nperseg=sr)  # 1 Hz bins over the whole clip
    best: tuple[float, list[float]] | None = None
    best_total = 0.0
    for mains in MAINS_HZ:
        harmonics = np.arange(1, int(min(MAX_HUM_HZ, sr / 2 - 20) // mains) + 1) * mains
        prominence = np.array([_prominence_db(freqs, power, hz) for hz in harmonics])
        if (prominence[:FIRST_HARMONICS] >= PROMINENCE_DB).sum() < 2:
            continue
        total = float(prominence[prominence >= PROMINENCE_DB].sum())
        if total > best_total:
            best, best_total = (mains, harmonics[prominence >= PROMINENCE_DB].tolist()), total
    return best


def remove_hum(x: np.ndarray, sr: int) -> tuple[np.ndarray, float | None]:
    """`x` with its mains hum notched out (zero phase), and the mains frequency (None: no hum)."""
    hum = find_hum(x, sr)
    if hum is None:
        return x, None
    mains, harmonics = hum
    sos = np.concatenate([signal.tf2sos(*signal.iirnotch(hz, NOTCH_Q, sr)) for hz in harmonics])
    return signal.sosfiltfilt(sos, x), mains
