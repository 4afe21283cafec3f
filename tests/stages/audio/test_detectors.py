"""The audio stage's detectors on the sounds that fooled them in real phone recordings."""

from __future__ import annotations

import numpy as np

from stages.audio.activity import adult_phonation, articulated
from stages.audio.music import detect_music
from stages.audio.pitch import FRAME_RATE, PitchTrack
from stages.audio.spectrum import analyse
from stages.audio.stage import AudioConfig

SR = 16_000


def _held_tone(seconds: float, total_s: float = 6.0, f0: float = 73.0) -> np.ndarray:
    """A buzz (harmonics of `f0`) held for `seconds` in the middle of quiet noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
    x = 0.001 * rng.standard_normal(int(total_s * SR))
    start = (len(x) - len(t)) // 2
    x[start:start + len(t)] += 0.1 * tone
    return x


def test_a_lone_held_tone_is_not_music_but_a_long_one_is() -> None:
    """Regression: a phone recording's 0.8 s 73 Hz buzz was taken for music and cut by 30 dB
    (the real cry around it came out at -8 dB SI-SDR against itself)."""
    cfg = AudioConfig()
    heard = {}
    for seconds in (0.8, 4.0):
        x = _held_tone(seconds)
        spec = analyse(x, SR)
        active = np.ones(spec.n_frames, bool)
        heard[seconds] = detect_music(spec, active, np.zeros(spec.n_frames), cfg).music.any()
    assert heard == {0.8: False, 4.0: True}


def _track(voiced_runs: list[tuple[float, float, float]], total_s: float = 2.0) -> PitchTrack:
    """A pitch track voiced on (start s, end s, F0 Hz) runs."""
    f0 = np.zeros(int(total_s * FRAME_RATE))
    for start, end, hz in voiced_runs:
        f0[int(start * FRAME_RATE):int(end * FRAME_RATE)] = hz
    return PitchTrack(f0, np.where(f0 > 0, 0.1, 0.8))


def test_one_held_phonation_is_not_speech_but_syllables_are() -> None:
    """Regression: Silero heard speech in a real cry's 0.6 s note at 230 Hz, and the stage cut
    it by 30 dB; speech breaks its voicing at consonants."""
    heard = np.zeros(200, bool)
    heard[50:130] = True  # what the speech detector calls speech, 0.5-1.3 s
    cry_note = _track([(0.55, 1.25, 230.0)])
    syllables = _track([(0.55 + 0.16 * i, 0.65 + 0.16 * i, 200.0 + 15 * i) for i in range(5)])
    assert not articulated(heard, cry_note).any()
    assert articulated(heard, syllables).sum() == heard.sum()


def _vibrato_note(total_s: float = 6.0, f0: float = 440.0) -> np.ndarray:
    """A bowed note with 6 Hz vibrato of +-30 cents, as strings play, over quiet noise."""
    rng = np.random.default_rng(1)
    t = np.arange(int(total_s * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 6 * t))) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 9))
    return 0.1 * tone + 0.001 * rng.standard_normal(len(t))


def test_a_string_note_with_vibrato_is_music() -> None:
    """Regression: string music under a real cry went undetected (its partials move by two
    15.6 Hz bins with the vibrato, and a partial had to stay within one)."""
    x = _vibrato_note()
    spec = analyse(x, SR)
    evidence = detect_music(spec, np.ones(spec.n_frames, bool), np.zeros(spec.n_frames),
                            AudioConfig())
    assert evidence.music.mean() > 0.5


def test_the_infant_f0_is_held_over_its_unvoiced_frames() -> None:
    from stages.audio.music import held

    f0 = np.array([0, 400, 0, 0, 0, 0, 500, 0] + [0] * 40, float)
    out = held(f0, 0.03)
    assert list(out[:8]) == [0, 400, 400, 400, 400, 0, 500, 500]
    assert out[-1] == 0


def test_a_phonation_mostly_in_the_adult_range_is_an_adult_s_where_it_rises_too() -> None:
    """An adult phrase at 220 Hz with a 310 Hz stressed syllable is all adult; a cry at 400 Hz
    that dips to 230 Hz for a moment is not; a 0.1 s pause separates two phonations."""
    adult_range = (80.0, 250.0)

    def flags(f0: list[float]) -> np.ndarray:
        track = np.array(f0)
        voiced = track > 0
        adult = voiced & (track >= adult_range[0]) & (track < adult_range[1])
        return adult_phonation(voiced, adult, voiced & (track >= adult_range[1]))

    phrase = [220.0] * 20 + [310.0] * 8 + [230.0] * 10
    assert flags(phrase).all()
    cry = [400.0] * 30 + [230.0] * 5 + [420.0] * 20
    assert not flags(cry).any()
    both = flags(phrase + [0.0] * 10 + [400.0] * 20)
    assert both[:38].all() and not both[38:].any()
    # A 40 ms drop-out is the tracker's: still one phonation.
    assert flags([220.0] * 20 + [0.0] * 4 + [310.0] * 8).all()
