"""Silero VAD as the audio stage's batches use it: from several threads of one process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stages.audio import speech
from stages.audio.testing import demo_mix


def test_batches_in_threads_get_the_answers_a_single_thread_gets() -> None:
    """Regression: with one clip per batch, the nightly flow's concurrent audio batches loaded
    and ran the stateful TorchScript model at once, and the process died of SIGSEGV."""
    clips = [demo_mix(name, seed) for name in ("adult_speech", "clean_cry") for seed in range(3)]
    speech._silero.cache_clear()  # the first calls race to load it, as a fresh worker's do
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda x: speech.silero_speech(x, 16_000, 800), clips))
    alone = [speech.silero_speech(x, 16_000, 800) for x in clips]
    assert all(np.array_equal(a, b) for a, b in zip(together, alone, strict=True))
    assert max(float(p.max()) for p in alone) > 0.5  # it heard the speech
