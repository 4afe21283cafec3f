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
from scipy import ndimage

from stages.audio.pitch import FRAME_RATE

log = logging.getLogger(__name__)

# The model's two rates and their chunks (32 ms each). The stage uses 16 kHz: the 8 kHz model is
# twice as fast but heard speech in 46 % of a real phone-recorded cry (16 kHz: none).
CHUNKS = {16_000: 512, 8_000: 256}
# Audio either side of a stretch the answer is needed for: the recurrent state settles within a
# few chunks, and a word's onset just outside the stretch still counts.
CONTEXT_S = 0.3
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


def silero_speech(x: np.ndarray, sr: int, n_frames: int,
                  where: np.ndarray | None = None) -> np.ndarray:
    """Speech probability (0-1) per 10 ms frame, (n_frames,).

    Args:
        x: the waveform at `sr` (16 or 8 kHz).
        sr: its sample rate.
        n_frames: the number of activity frames to return.
        where: (n_frames,) the frames whose answer is needed, or None for all. The model runs
            on those stretches only (with CONTEXT_S either side, its state reset per stretch);
            elsewhere the answer is 0. It was 40 % of the stage's time on real recordings,
            most of it inside the infant's bouts, where its answer is not used.
    """
    if sr not in CHUNKS:
        raise ValueError(f"Silero VAD runs at {sorted(CHUNKS)} Hz, got {sr}")
    chunk = CHUNKS[sr]
    wanted = np.ones(n_frames, bool) if where is None else where[:n_frames]
    context = round(CONTEXT_S * FRAME_RATE)
    padded = ndimage.binary_dilation(wanted, np.ones(2 * context + 1)) if context else wanted
    out = np.zeros(n_frames)
    hop = sr // FRAME_RATE
    labels, _ = ndimage.label(padded)
    for span in ndimage.find_objects(labels):
        first, last = span[0].start, span[0].stop
        part = x[first * hop: last * hop]
        if len(part) < chunk:
            continue
        probs = _probabilities(part, sr)  # (C,)
        centres = (np.arange(len(probs)) + 0.5) * chunk / sr
        frames = (np.arange(last - first) + 0.5) / FRAME_RATE
        out[first:last] = np.interp(frames, centres, probs)
    return np.where(wanted, out, 0.0)


def _probabilities(x: np.ndarray, sr: int) -> np.ndarray:
    """Silero's speech probability per 32 ms chunk of `x`, from a fresh state."""
    import torch

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
    return probs.numpy().reshape(-1)
