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
# Parts run as one batch down to this share of the longest's length: padding a shorter one costs
# a batch row per chunk (about 0.15 ms), running it alone 0.58 ms per chunk.
BATCH_SHARE = 0.5


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
    spans = [(span[0].start, span[0].stop) for span in ndimage.find_objects(labels)]
    spans = [(first, last) for first, last in spans if len(x[first * hop: last * hop]) >= chunk]
    parts = [x[first * hop: last * hop][: _needed(wanted[first:last], chunk, sr)]
             for first, last in spans]
    for (first, last), probs in zip(spans, _probabilities(parts, sr), strict=True):
        centres = (np.arange(len(probs)) + 0.5) * chunk / sr
        frames = (np.arange(last - first) + 0.5) / FRAME_RATE
        out[first:last] = np.interp(frames, centres, probs)
    return np.where(wanted, out, 0.0)


def _needed(wanted: np.ndarray, chunk: int, sr: int) -> int:
    """How many samples of a stretch the model must hear for its `wanted` frames' answers.

    The model is causal: a chunk's answer depends on the chunks before it, never after. The
    context after the last wanted frame is cut down to the chunk whose centre follows that
    frame (and one more), which leaves every wanted frame's answer as it was.
    """
    end_s = (np.flatnonzero(wanted)[-1] + 0.5) / FRAME_RATE
    return (int(np.ceil(end_s * sr / chunk - 0.5)) + 2) * chunk


def _probabilities(parts: list[np.ndarray], sr: int) -> list[np.ndarray]:
    """Silero's speech probability per 32 ms chunk of each part, each from a fresh state.

    The parts run side by side, as rows of one batch padded with zeros (as the model pads a
    part's last chunk itself): the model steps through 32 ms chunks, and one step for several
    rows costs little more than for one (measured: 0.58 ms a step for one row, 1.7 for eight).
    A padded row's chunks past its end are dropped; its own chunks see the same samples and
    the same state as alone, and differ from that only by float rounding (at most 4e-6 on
    the real recordings; no answer crossed 0.5).
    Rows are grouped by length, so that a short part does not step along a long one.
    """
    import torch

    from model.threads import single_threaded_torch

    chunk = CHUNKS[sr]
    out: list[np.ndarray] = [np.zeros(0)] * len(parts)
    # One thread: the model steps through 32 ms chunks, far too small to split, and a second
    # thread only spins (measured: 40x slower with 2 threads on a busy 2-core machine).
    with _SILERO_LOCK, single_threaded_torch():
        model = _silero()
        for group in _by_length([len(part) for part in parts]):
            batch = np.zeros((len(group), max(len(parts[i]) for i in group)), np.float32)
            for row, i in enumerate(group):
                batch[row, : len(parts[i])] = parts[i]
            with torch.inference_mode():
                probs = model.audio_forward(torch.from_numpy(batch), sr).numpy()  # (B, C)
            for row, i in enumerate(group):
                out[i] = probs[row, : -(-len(parts[i]) // chunk)]
    return out


def _by_length(lengths: list[int]) -> list[list[int]]:
    """Indices grouped longest first; a group ends where a part is under half its longest."""
    groups: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if not groups or lengths[i] < BATCH_SHARE * lengths[groups[-1][0]]:
            groups.append([])
        groups[-1].append(i)
    return groups
