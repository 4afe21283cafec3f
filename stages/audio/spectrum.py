"""One short-time Fourier transform per clip, shared by every detector and by the cleaning.

Frames are 64 ms Hann windows every 10 ms, centred on the activity frames (frame k on sample
k * 160), so a per-frame verdict indexes the spectrogram directly and the cleaning's gains are
applied to the same transform they were measured on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft, signal

from stages.audio.pitch import FRAME_RATE

N_FFT = 1024  # 64 ms at 16 kHz: 15.6 Hz bins separate the harmonics of an adult voice


@dataclass(frozen=True)
class Spectrum:
    """The complex STFT of a clip, `freqs` (F,) in Hz; `stft` has one column per activity frame."""

    full: np.ndarray  # (F, T + a few) complex: every column the inverse transform needs
    freqs: np.ndarray  # (F,)
    sr: int
    n_samples: int
    n_frames: int  # T

    @property
    def stft(self) -> np.ndarray:
        """(F, T) complex, column k centred on sample k * hop."""
        return self.full[:, : self.n_frames]

    @property
    def hop(self) -> int:
        return self.sr // FRAME_RATE

    def power(self) -> np.ndarray:
        """|X|^2, (F, T); computed once (every detector and the cleaning read it; do not write
        into it)."""
        return self._power

    @functools.cached_property
    def _power(self) -> np.ndarray:
        power = self.stft.real**2
        power += self.stft.imag**2  # in place: one (F, T) temporary fewer
        return power

    def band(self, low_hz: float, high_hz: float) -> slice:
        """The bins from `low_hz` up to (not including) `high_hz`."""
        df = self.sr / N_FFT
        return slice(int(np.ceil(low_hz / df)), int(np.ceil(high_hz / df)))


def analyse(x: np.ndarray, sr: int) -> Spectrum:
    """The STFT of `x`, one column per 10 ms activity frame."""
    hop = sr // FRAME_RATE
    if np.asarray(x).dtype == np.float64:
        stft = _stft(x, hop)
    else:  # pyannote's float32 sources: scipy's own precision rules
        stft = signal.stft(x, sr, window="hann", nperseg=N_FFT, noverlap=N_FFT - hop,
                           boundary="zeros", padded=True)[2]
    freqs = fft.rfftfreq(N_FFT, 1 / sr)
    n_frames = int(np.ceil(len(x) / hop))
    if stft.shape[1] < n_frames:
        stft = np.pad(stft, ((0, 0), (0, n_frames - stft.shape[1])))
    # The columns past the last activity frame are kept: their windows still cover the clip's
    # last 32 ms, and the inverse transform needs them there.
    return Spectrum(full=stft, freqs=freqs, sr=sr, n_samples=len(x), n_frames=n_frames)


def _stft(x: np.ndarray, hop: int) -> np.ndarray:
    """scipy's `stft(x, window="hann", boundary="zeros", padded=True)` of a float64 `x`, (F, T'),
    step by step and bit for bit, without its copies of every frame (a twentieth of the stage's
    time)."""
    half = N_FFT // 2
    extra = (-(len(x) + 2 * half - N_FFT) % hop) % N_FFT  # `padded`: whole frames to the end
    frames = sliding_window_view(np.pad(x, (half, half + extra)), N_FFT)[::hop]  # (T', N)
    win = _window()
    stft = fft.rfft(win * frames, n=N_FFT, axis=-1)  # (T', F)
    stft *= np.sqrt(1.0 / win.sum() ** 2)
    return stft.T  # a view: the frames stay rows in memory, as scipy leaves them


def synthesise(spec: Spectrum, gain: np.ndarray) -> np.ndarray:
    """The waveform of `spec` with a real gain (F, T) applied, `n_samples` long.

    scipy's `istft` arithmetic (its window scaling, overlap-add in frame order, normalisation by
    the summed squared windows), with the overlap-add vectorised: scipy adds one frame at a time
    in a Python loop, which was a tenth of the stage's time on real recordings.
    """
    t = gain.shape[1]
    win = _window()
    # Frames as rows: the inverse FFT and the overlap-add then read contiguous memory. The
    # columns past the gain's take its last one.
    gained = np.empty(spec.full.T.shape, spec.full.dtype)  # (T', F)
    np.multiply(spec.full.T[:t], gain.T, out=gained[:t])
    np.multiply(spec.full.T[t:], gain[:, -1], out=gained[t:])
    frames = fft.irfft(gained, n=N_FFT, axis=1)  # (T', N)
    frames *= win.sum()
    frames *= win
    y = _overlap_add(frames, spec.hop)
    norm = _overlap_add(np.broadcast_to(win**2, frames.shape), spec.hop)
    half = N_FFT // 2  # the centred transform's padding
    y, norm = y[half:-half], norm[half:-half]
    y /= np.where(norm > 1e-10, norm, 1.0)
    return np.pad(y, (0, max(0, spec.n_samples - len(y))))[: spec.n_samples]


@functools.cache
def _window() -> np.ndarray:
    return signal.get_window("hann", N_FFT)


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Frames (T, N) summed at every `hop` samples, `N + (T - 1) * hop` long.

    Each frame is cut into `hop`-long blocks; block j of every frame is added in one step, and
    the steps go from the last block to the first, so every sample receives its frames in
    ascending order, as scipy's frame-by-frame loop adds them: the result is bit-identical.
    """
    t, n = frames.shape
    k = -(-n // hop)  # blocks per frame, the last one shorter
    out = np.zeros((t + k - 1, hop))
    for j in range(k - 1, -1, -1):
        width = min(hop, n - j * hop)
        out[j:j + t, :width] += frames[:, j * hop:j * hop + width]
    return out.reshape(-1)[: n + (t - 1) * hop]
