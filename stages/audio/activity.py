"""Who is sounding in each 10 ms frame: silence, the infant, an adult, or music.

The weight-free evidence is pitch (infant F0 250-750 Hz against adult 80-300 Hz), harmonicity
(YIN's aperiodicity) and steady tonal peaks (sustained notes); when a pyannote segmentation model
is configured its speech activity replaces voicing as the evidence of speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from stages.audio.config import AudioConfig
from stages.audio.pitch import FRAME_RATE, PitchTrack, track_pitch

N_FFT = 1024  # 64 ms at 16 kHz: 15.6 Hz bins separate the harmonics of an adult voice
PEAK_RANGE_DB = 30.0  # spectral peaks within this of the frame's strongest one
MAX_PEAK_HZ = 4000.0  # sustained notes live below; above it is mostly noise
# Looser than voicing's 0.35: YIN's aperiodicity of a cry at 0 dB SNR is about 0.4 (measured), and
# the short-lag search range alone already excludes adult voices.
INFANT_MAX_APERIODICITY = 0.5


@dataclass(frozen=True)
class FrameActivity:
    """Per-frame evidence and verdicts at 100 frames per second, all arrays of shape (T,)."""

    level_db: np.ndarray  # frame RMS, dBFS of the input before normalisation
    pitch: PitchTrack  # the full-range track (70-1000 Hz)
    infant_f0: np.ndarray  # F0 in Hz where the infant-range track finds the infant, else 0
    steady: np.ndarray  # fraction of the frame's spectral peaks that persist +-lag
    silent: np.ndarray
    active: np.ndarray
    infant: np.ndarray
    adult: np.ndarray
    music: np.ndarray
    overlap: np.ndarray  # several speakers at once (pyannote path only; else all False)

    @property
    def n_frames(self) -> int:
        return len(self.level_db)


def frame_level_db(x: np.ndarray, sr: int) -> np.ndarray:
    """RMS per 10 ms frame in dBFS."""
    hop = sr // FRAME_RATE
    n = int(np.ceil(len(x) / hop))
    power = np.pad(x.astype(float) ** 2, (0, n * hop - len(x))).reshape(n, hop).mean(axis=1)
    return 10 * np.log10(power + 1e-12)


def steady_peaks(x: np.ndarray, sr: int, lag_s: float) -> np.ndarray:
    """The fraction of each frame's spectral peaks found again `lag_s` before and after it.

    Sustained notes keep their partials for hundreds of milliseconds; voices glide, so theirs
    move by several bins within 150 ms.
    """
    hop = sr // FRAME_RATE
    n = int(np.ceil(len(x) / hop))
    padded = np.pad(x.astype(float), (N_FFT // 2, N_FFT // 2 + hop))
    frames = padded[np.arange(n)[:, None] * hop + np.arange(N_FFT)]  # (T, N_FFT)
    top_bin = int(MAX_PEAK_HZ * N_FFT / sr)
    spec = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1))[:, 3:top_bin]  # (T, F)
    level = 20 * np.log10(spec + 1e-9)
    peaks = (level == ndimage.maximum_filter1d(level, 5, axis=1)) & (
        level > level.max(axis=1, keepdims=True) - PEAK_RANGE_DB)
    near = ndimage.maximum_filter1d(peaks.astype(np.uint8), 3, axis=1).astype(bool)
    k = max(1, round(lag_s * FRAME_RATE))
    before, after = np.zeros_like(near), np.zeros_like(near)
    before[k:], after[:-k] = near[:-k], near[k:]
    kept = (peaks & before & after).sum(axis=1)
    return kept / np.maximum(peaks.sum(axis=1), 1)


def frame_activity(x: np.ndarray, sr: int, raw_level_db: np.ndarray, cfg: AudioConfig,
                   speech: np.ndarray | None = None,
                   overlap: np.ndarray | None = None) -> FrameActivity:
    """Classifies each 10 ms frame.

    Args:
        x: the loudness-normalised waveform.
        sr: its sample rate.
        raw_level_db: `frame_level_db` of the input before normalisation (silence is absolute).
        cfg: the thresholds.
        speech: pyannote speech activity per frame (0-1), or None for the weight-free path.
        overlap: pyannote overlapped-speech activity per frame (0-1), or None.
    """
    level = frame_level_db(x, sr)
    pitch = track_pitch(x, sr)
    # A second track searches only the infant's range: under a louder adult voice or music the
    # full-range track locks onto the background, while the infant's own periodicity still
    # shows as a dip at short lags (measured: cry recall at 0 dB 0.3 full range, 0.7 restricted).
    high = track_pitch(x, sr, fmin=0.9 * cfg.infant_f0_hz[0], fmax=1.3 * cfg.infant_f0_hz[1],
                       max_aperiodicity=INFANT_MAX_APERIODICITY)
    steady = steady_peaks(x, sr, cfg.steady_lag_s)
    n = min(len(level), len(pitch.f0), len(steady), len(raw_level_db))
    level, steady, raw = level[:n], steady[:n], raw_level_db[:n]
    pitch = PitchTrack(pitch.f0[:n], pitch.aperiodicity[:n])
    high = PitchTrack(high.f0[:n], high.aperiodicity[:n])
    silent = raw < cfg.silence_dbfs
    loud = np.percentile(level[~silent], 95) if (~silent).any() else 0.0
    active = ~silent & (level > loud - cfg.active_range_db)
    f0 = pitch.f0
    music = active & (steady >= cfg.steady_fraction)
    music = _smooth(music, 0.2)
    adult_pitched = pitch.voiced & (f0 >= cfg.adult_f0_hz[0]) & (f0 < cfg.infant_f0_hz[0])
    # Infant where its range shows periodicity, unless an adult period explains the frame better.
    infant_pitched = (high.voiced & (high.f0 >= cfg.infant_f0_hz[0])
                      & (high.f0 <= cfg.infant_f0_hz[1])
                      & ~(adult_pitched & (pitch.aperiodicity < high.aperiodicity)))
    infant_pitched = _smooth(infant_pitched, 0.05) & active
    infant = infant_pitched & ~music
    if speech is None:
        adult = active & adult_pitched & ~music & ~infant
    else:
        adult = active & (speech[:n] > 0.5) & ~infant & ~music
    several = np.zeros(n, bool) if overlap is None else active & (overlap[:n] > 0.5)
    infant_f0 = np.where(infant_pitched & high.voiced, high.f0, 0.0)
    return FrameActivity(level_db=raw, pitch=pitch, infant_f0=infant_f0, steady=steady,
                         silent=silent, active=active,
                         infant=infant, adult=_smooth(adult, 0.05),
                         music=music, overlap=several)


def _smooth(mask: np.ndarray, seconds: float) -> np.ndarray:
    """Closes gaps and drops islands shorter than `seconds` (a median filter on a boolean)."""
    width = max(1, round(seconds * FRAME_RATE)) | 1
    return ndimage.median_filter(mask.astype(np.uint8), width, mode="nearest").astype(bool)
