"""Silero VAD as the audio stage uses it: its sequence export, from several threads of one
process, answering for the frames the stage asks about."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stages.audio import speech
from stages.audio.testing import demo_mix


def test_batches_in_threads_get_the_answers_a_single_thread_gets() -> None:
    """Regression: with one clip per batch, the nightly flow's concurrent audio batches loaded
    and ran the stateful TorchScript model at once, and the process died of SIGSEGV. The
    sequence export keeps no state between calls."""
    clips = [demo_mix(name, seed) for name in ("adult_speech", "clean_cry") for seed in range(3)]
    speech._silero.cache_clear()  # the first calls race to load it, as a fresh worker's do
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda x: speech.silero_speech(x, 16_000, 800), clips))
    alone = [speech.silero_speech(x, 16_000, 800) for x in clips]
    assert all(np.array_equal(a, b) for a, b in zip(together, alone, strict=True))
    assert max(float(p.max()) for p in alone) > 0.5  # it heard the speech


def test_the_asked_frames_get_the_whole_clip_s_answers() -> None:
    """Silero hears the clip from its start, whichever frames are asked about: run afresh on
    each asked stretch its state had not settled, and it missed most of a reader under real
    cries (`test_quality.py::test_a_reader_under_a_real_cry_is_adult_speech`)."""
    x = np.concatenate([demo_mix("adult_speech", 0), demo_mix("clean_cry", 1)])
    n = len(x) // 160
    where = np.zeros(n, bool)
    for start, stop in ((20, 140), (300, 330), (500, 900), (1000, 1012)):
        where[start:stop] = True
    asked = speech.silero_speech(x, 16_000, n, where=where)
    whole = speech.silero_speech(x, 16_000, n)
    assert np.array_equal(asked[where], whole[where])
    assert not asked[~where].any()
    assert whole[20:140].max() > 0.5  # it heard the speech


def test_the_sequence_export_answers_as_the_streaming_model() -> None:
    """The stage runs the wheel's sequence ONNX export (one call per 16 s, 9x faster): its
    answers are the streaming TorchScript model's, chunk by chunk, on speech and on a cry."""
    import torch
    from silero_vad import load_silero_vad

    streaming = load_silero_vad()
    for name in ("adult_speech", "clean_cry"):
        x = demo_mix(name, 2).astype(np.float32)
        with torch.inference_mode():
            reference = streaming.audio_forward(torch.from_numpy(x)[None], 16_000).numpy()[0]
        got = speech._silero().audio_forward(x, 16_000)
        assert np.allclose(got, reference, atol=1e-4)  # float rounding: 2e-5 measured
        assert np.array_equal(got > 0.5, reference > 0.5)
