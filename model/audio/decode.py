"""Audio files of any format ffmpeg reads, as the 16 kHz mono float waveform encoders take."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from manifests.errors import CradleError
from model.audio.encoders import SAMPLE_RATE


class AudioDecodeError(CradleError):
    """The file is missing or holds no audio ffmpeg can decode."""


def read_audio(path: Path) -> np.ndarray:
    """(S,) float32 samples at 16 kHz, downmixed to mono."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"no audio file at {path}")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-vn", "-ac", "1",
           "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]
    done = subprocess.run(cmd, capture_output=True, check=False)
    wave = np.frombuffer(done.stdout, dtype="<f4")
    if done.returncode or not len(wave):
        reason = done.stderr.decode(errors="replace").strip()[-300:] or "no audio stream"
        raise AudioDecodeError(f"cannot decode audio from {path.name}: {reason}")
    return wave.astype(np.float32)
