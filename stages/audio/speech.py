"""Adult speech activity from Silero VAD, whose model ships inside the silero-vad wheel.

Silero answers "is someone speaking" for every 32 ms chunk, offline, without a token. It also
fires on infant laughter and on some cries (measured: up to 36 % of a real laugh's chunks), so
the stage asks it only about frames the infant does not explain. torch is imported lazily: a
configuration without the detector never pays for it.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import numpy as np

from stages.audio.pitch import FRAME_RATE

log = logging.getLogger(__name__)

SILERO_RATE = 16_000  # the rate the model's 512-sample chunks are defined at
CHUNK = 512
# The flow runs a stage's batches in threads of one process. Silero's TorchScript model keeps
# state between chunks and torch's thread count is global: two batches loading or running it at
# once crashed the process (SIGSEGV, seen with one clip per batch). One at a time, then.
_SILERO_LOCK = threading.Lock()


@functools.cache
def _silero() -> Any:
    import torch

    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad  # its import sets torch to one thread: undo that

    model = load_silero_vad()
    torch.set_num_threads(threads)
    log.info("loaded Silero VAD from the silero-vad package")
    return model


def silero_speech(x: np.ndarray, sr: int, n_frames: int) -> np.ndarray:
    """Speech probability (0-1) per 10 ms frame, (n_frames,).

    Args:
        x: the waveform at `sr` (16 kHz, the stage's rate).
        sr: its sample rate.
        n_frames: the number of activity frames to return.
    """
    import torch

    if sr != SILERO_RATE:
        raise ValueError(f"Silero VAD runs at {SILERO_RATE} Hz, got {sr}")
    with _SILERO_LOCK:
        model = _silero()
        # One thread: the model steps through 32 ms chunks, far too small to split, and a second
        # thread only spins (measured: 40x slower with 2 threads on a busy 2-core machine).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                probs = model.audio_forward(torch.from_numpy(x.astype(np.float32)), sr)  # (1, C)
        finally:
            torch.set_num_threads(threads)
    probs = probs.numpy().reshape(-1)  # (C,)
    centres = (np.arange(len(probs)) + 0.5) * CHUNK / sr
    frames = (np.arange(n_frames) + 0.5) / FRAME_RATE
    return np.interp(frames, centres, probs) if len(probs) else np.zeros(n_frames)
