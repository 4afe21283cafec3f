"""Reading, decoding, loudness-normalising and writing 16 kHz mono audio."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy import signal

from manifests.files import atomic_path

SAMPLE_RATE = 16_000  # the download stage's rate, and what speech and vocalisation models expect
MIN_LOUDNESS_S = 0.4  # pyloudnorm's gating block: shorter clips have no integrated loudness


class DecodeError(Exception):
    """The file cannot be read as audio: a per-clip verdict (corrupt media), not a fault."""


def read_wav(path: Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Reads a PCM file as float64 mono at `sr`, mixing down and resampling when needed.

    Raises:
        DecodeError: the file is not readable audio.
    """
    try:
        x, rate = sf.read(path, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise DecodeError(f"{path}: {e}") from e
    mono = x.mean(axis=1)
    return signal.resample_poly(mono, sr, rate) if rate != sr else mono


def decode_audio(path: Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decodes any container ffmpeg knows (3GP/AMR, CAF/ADPCM, mp4/AAC, wav) to mono at `sr`.

    Raises:
        DecodeError: ffmpeg cannot decode the file.
    """
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
           "-ar", str(sr), "-f", "f32le", "-"]
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout:
        raise DecodeError(f"{path}: ffmpeg: {done.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(done.stdout, dtype="<f4").astype(np.float64)


def loudness_normalise(x: np.ndarray, sr: int, target_lufs: float,
                       max_gain_db: float) -> tuple[np.ndarray, float | None, float]:
    """Brings the clip to `target_lufs` (EBU R128), the gain capped and peaks kept below 1.

    Returns:
        The normalised waveform, the measured loudness (None when too short or silent) and the
        gain applied in dB.
    """
    loudness = None
    if len(x) >= MIN_LOUDNESS_S * sr:
        measured = pyloudnorm.Meter(sr).integrated_loudness(x)
        loudness = float(measured) if np.isfinite(measured) else None
    gain_db = 0.0 if loudness is None else min(target_lufs - loudness, max_gain_db)
    y = x * 10 ** (gain_db / 20)
    peak = float(np.abs(y).max()) if len(y) else 0.0
    if peak > 0.99:  # a limiter would colour the cry; a plain scale keeps it intact
        y = y * 0.99 / peak
        gain_db += 20 * np.log10(0.99 / peak)
    return y, loudness, gain_db


def write_wav(path: Path, x: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Writes 16-bit PCM atomically."""
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    return Path(path)
