"""Adult speech activity from Silero VAD, whose model ships inside the silero-vad wheel.

Silero answers "is someone speaking" for every 32 ms chunk, offline, without a token. It also
fires on infant laughter and on some cries (measured: up to 36 % of a real laugh's chunks), so
the stage asks it only about frames the infant does not explain. It runs as the wheel's
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
from scipy import ndimage

from stages.audio.pitch import FRAME_RATE

log = logging.getLogger(__name__)

# The sequence model's rate and its chunk (32 ms). The 8 kHz streaming model was twice as fast
# as the 16 kHz one but heard speech in 46 % of a real phone-recorded cry (16 kHz: none).
RATE = 16_000
CHUNK = 512
# Audio either side of a stretch the answer is needed for: the recurrent state settles within a
# few chunks, and a word's onset just outside the stretch still counts.
CONTEXT_S = 0.3
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
        where: (n_frames,) the frames whose answer is needed, or None for all. The model runs
            on those stretches only (with CONTEXT_S either side, its state reset per stretch);
            elsewhere the answer is 0. Most of a clip is the infant's bouts, where its answer is
            not used.
    """
    if sr != RATE:
        raise ValueError(f"Silero VAD runs here at {RATE} Hz, got {sr}")
    wanted = np.ones(n_frames, bool) if where is None else where[:n_frames]
    context = round(CONTEXT_S * FRAME_RATE)
    padded = ndimage.binary_dilation(wanted, np.ones(2 * context + 1)) if context else wanted
    out = np.zeros(n_frames)
    hop = sr // FRAME_RATE
    labels, _ = ndimage.label(padded)
    with _LOAD_LOCK:
        model = _silero()
    for (span,) in ndimage.find_objects(labels):
        first, last = span.start, span.stop
        part = x[first * hop: last * hop]
        if len(part) < CHUNK:
            continue
        part = np.asarray(part[: _needed(wanted[first:last])], np.float32)
        probs = model.audio_forward(part, RATE)  # (chunks,), from a fresh state
        centres = (np.arange(len(probs)) + 0.5) * CHUNK / RATE
        frames = (np.arange(last - first) + 0.5) / FRAME_RATE
        out[first:last] = np.interp(frames, centres, probs)
    return np.where(wanted, out, 0.0)


def _needed(wanted: np.ndarray) -> int:
    """How many samples of a stretch the model must hear for its `wanted` frames' answers.

    The model is causal: a chunk's answer depends on the chunks before it, never after. The
    context after the last wanted frame is cut down to the chunk whose centre follows that
    frame (and one more), which leaves every wanted frame's answer as it was.
    """
    end_s = (np.flatnonzero(wanted)[-1] + 0.5) / FRAME_RATE
    return (int(np.ceil(end_s * RATE / CHUNK - 0.5)) + 2) * CHUNK
