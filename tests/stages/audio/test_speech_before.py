"""A parent's words just before a real cry: the clip is accepted, and the cleaning takes the words
out, not only the infant-free frames around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.audio.scores import gate
from stages.audio.stage import AudioConfig, clean_clip
from stages.audio.testing import (
    load_real,
    real_files,
    real_speech,
    speech_before,
    speech_left_db,
)


@pytest.mark.parametrize(("infant", "voice", "at_most_db"), [
    ("1-187207-A", "librispeech_198-209-0000", -6.0),  # ESC-50's cry, a woman reading
    ("0f257dac", "face_1", -5.0),  # a raw phone cry, a real talking head's man
])
def test_speech_before_a_real_cry_is_taken_down(shared: Path, infant: str, voice: str,
                                                at_most_db: float) -> None:
    """Regression: the words were left 4.3 and 1.5 dB under the cry. Silero heard them, but
    infant-range periodicity (a woman's F0, an octave slip) and their level kept most frames out
    of the infant-free ones the cleaning attenuates; YAMNet hears them as speech too."""
    source = next(f for f in real_files(shared) if f.name.startswith(infant))
    clip, words = speech_before(load_real(source.path), real_speech(shared)[voice])
    cfg = AudioConfig()
    clean, _, metrics = clean_clip(clip, cfg)
    assert gate(metrics, cfg) is None
    left = speech_left_db(clean, clip, words)
    print(f"\n[audio] {voice} before {infant}: the speech {left:+.1f} dB against the cry")
    assert left <= at_most_db


def test_words_that_run_into_a_cry_are_heard(shared: Path) -> None:
    """Regression: a man reading just before ESC-50's cry 2-107351-A was not adult speech at all
    (ratio 0.0). A stray octave frame (340 Hz) in his words, bridged to the cry's onset, put the
    end of them in the cry's bout before the speech check, and Silero was not asked there; the
    0.33 s it was asked about then read as one held phonation (a cry's low note)."""
    source = next(f for f in real_files(shared) if f.name.startswith("2-107351-A"))
    clip, words = speech_before(load_real(source.path),
                                real_speech(shared)["librispeech_3436-172162-0000"])
    _, activity, metrics = clean_clip(clip, AudioConfig())
    assert activity.adult[: words // 160].mean() >= 0.5
    assert metrics["adult_speech_ratio"] >= 0.05
