"""Adult speech activity from Silero VAD, whose model ships inside the silero-vad wheel.

Silero answers "is someone speaking" for every 32 ms chunk, offline, without a token. It also
fires on infant laughter and on some cries (measured: up to 36 % of a real laugh's chunks), so
the stage uses its answers only on frames the infant does not explain. It hears the whole clip
from its start, though: run afresh on each such stretch (with 0.3 s either side), its state
had not settled, and a woman reading under real cries at 5-10 dB was heard on 13-35 % of the
cries' pauses where the whole clip's run hears her on 85-93 %. It runs as the wheel's
"sequence" ONNX export: one onnxruntime call per 512 chunks (16 s) instead of one per chunk,
the same probabilities as the streaming model, and 9x faster than its TorchScript form on this
machine (0.06 against 0.55 ms a chunk). The package is imported lazily (it imports torch): a
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

# The sequence model's rate and its chunk (32 ms). The 8 kHz streaming model was twice as fast
# as the 16 kHz one but heard speech in 46 % of a real phone-recorded cry (16 kHz: none).
RATE = 16_000
CHUNK = 512
_LOAD_LOCK = threading.Lock()  # a fresh worker's first batches load the model once


@functools.cache
def _silero() -> Any:
    import torch

    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad  # its import sets torch to one thread: undo that

    model = load_silero_vad(sequence=True)  # onnxruntime, one thread: the same answer anywhere
    torch.set_num_threads(threads)
    log.info("loaded Silero VAD (sequence ONNX) from the silero-vad package")
    return model


def silero_speech(x: np.ndarray, sr: int, n_frames: int,
                  where: np.ndarray | None = None) -> np.ndarray:
    """Speech probability (0-1) per 10 ms frame, (n_frames,).

    Args:
        x: the waveform at 16 kHz.
        sr: its sample rate.
        n_frames: the number of activity frames to return.
        where: (n_frames,) the frames whose answer is needed, or None for all; elsewhere the
            answer is 0. The model hears the clip up to the last of them.
    """
    if sr != RATE:
        raise ValueError(f"Silero VAD runs here at {RATE} Hz, got {sr}")
    wanted = np.ones(n_frames, bool) if where is None else where[:n_frames]
    if not wanted.any() or len(x) < CHUNK:
        return np.zeros(n_frames)
    with _LOAD_LOCK:
        model = _silero()
    part = np.asarray(x[: _needed(wanted)], np.float32)
    probs = model.audio_forward(part, RATE)  # (chunks,), from a fresh state at the clip's start
    centres = (np.arange(len(probs)) + 0.5) * CHUNK / RATE
    frames = (np.arange(n_frames) + 0.5) / FRAME_RATE
    return np.where(wanted, np.interp(frames, centres, probs), 0.0)


def _needed(wanted: np.ndarray) -> int:
    """How many samples the model must hear for its `wanted` frames' answers.

    The model is causal: a chunk's answer depends on the chunks before it, never after. The
    clip after the last wanted frame is cut down to the chunk whose centre follows that frame
    (and one more), which leaves every wanted frame's answer as it was.
    """
    end_s = (np.flatnonzero(wanted)[-1] + 0.5) / FRAME_RATE
    return (int(np.ceil(end_s * RATE / CHUNK - 0.5)) + 2) * CHUNK
