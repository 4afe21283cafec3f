"""Synthetic infant vocalisations and the sounds that contaminate them, at 16 kHz.

Every source comes with its truth: the vocalisations return their [start, end) sample intervals,
and `mix` returns the gain each source got, so the audio stage can be scored exactly.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
Intervals = list[tuple[int, int]]

_SENTENCES = (
    "Look at you, are you hungry again? Come here, sweetheart, let me pick you up.",
    "The weather will be cloudy this afternoon with a chance of rain later tonight.",
    "Can you pass me the blanket? I think she is getting tired after the bath.",
    "And now the news. The council met today to discuss the new bridge downtown.",
    "Shh, it is all right, mummy is here. Do you want your bottle now?",
    "We will be right back after these messages. Stay tuned for more.",
)


def _resonator(x: np.ndarray, freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """A two-pole formant filter with unit gain at its centre frequency."""
    r = np.exp(-np.pi * bandwidth / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    b = [(1 - r) * np.sqrt(1 - 2 * r * np.cos(2 * theta) + r * r)]
    return signal.lfilter(b, a, x)


def _voiced(f0: np.ndarray, rng: np.random.Generator, sr: int,
            formants: tuple[float, ...], breath: float) -> np.ndarray:
    """Harmonics of a time-varying F0, shaped by parallel formants, plus a little breath noise."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    out = np.zeros_like(f0)
    for k in range(1, int(7500 / f0.max()) + 1):
        out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**1.1
    out += breath * rng.standard_normal(len(f0))
    shaped = sum(_resonator(out, f, 0.12 * f + 150, sr) for f in formants)
    return shaped / (np.abs(shaped).max() + 1e-9)


def _fade(n: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(n)
    a, r = min(attack, n // 2), min(release, n // 2)
    env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    env[n - r:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))
    return env


def _inhale(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """A short noisy in-breath between cry bursts (not part of the vocalisation mask)."""
    noise = _resonator(rng.standard_normal(n), 2200, 900, sr)
    return 0.08 * noise / (np.abs(noise).max() + 1e-9) * _fade(n, n // 3, n // 3)


def _aspiration(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """The breathy "h" before a laugh pulse: band noise that swells into the voice."""
    noise = _resonator(rng.standard_normal(n), 1500, 1200, sr)
    return noise / (np.abs(noise).max() + 1e-9) * _fade(n, n // 2, n // 4)


def cry(duration_s: float, rng: np.random.Generator,
        sr: int = SAMPLE_RATE) -> tuple[np.ndarray, Intervals]:
    """An infant cry: 0.5-2 s voiced bursts (F0 350-600 Hz, vibrato) separated by inhalations.

    Returns:
        The waveform (peak 1) and the bursts' [start, end) sample intervals.
    """
    n = int(duration_s * sr)
    out = np.zeros(n)
    spans: Intervals = []
    pos = int(rng.uniform(0.2, 0.6) * sr)
    while True:
        length = int(rng.uniform(0.5, 2.0) * sr)
        if pos + length > n - int(0.15 * sr):
            break
        t = np.arange(length) / sr
        # sin(pi) rounds to a tiny negative number, whose fractional power is NaN: clip it.
        arch = np.clip(np.sin(np.pi * t / t[-1]), 0, None) ** 0.7
        base = rng.uniform(370, 430)
        f0 = base + rng.uniform(100, 160) * arch
        f0 *= 1 + 0.025 * np.sin(2 * np.pi * rng.uniform(5, 8) * t + rng.uniform(0, 6.3))
        jitter = signal.lfilter([0.02], [1, -0.98], rng.standard_normal(length)) * 0.05
        f0 = np.clip(f0 * (1 + jitter), 350, 600)
        formants = (rng.uniform(1000, 1300), rng.uniform(2600, 3200), rng.uniform(4300, 5000))
        # Rough, as real cries are: a purer voice with this vibrato is a theremin to an AudioSet
        # tagger (YAMNet heard music in 2 of a synthetic cry's 9 patches at breath 0.05).
        burst = _voiced(f0, rng, sr, formants, breath=0.15)
        burst *= _fade(length, int(0.06 * sr), int(0.12 * sr)) * (0.8 + 0.2 * arch)
        out[pos:pos + length] = burst
        spans.append((pos, pos + length))
        gap = int(rng.uniform(0.3, 0.6) * sr)
        inhale = int(0.6 * gap)
        if pos + length + inhale < n:
            start = pos + length + (gap - inhale) // 2
            out[start:start + inhale] += _inhale(inhale, rng, sr)[: n - start]
        pos += length + gap
    return out, spans


def laughter(duration_s: float, rng: np.random.Generator,
             sr: int = SAMPLE_RATE) -> tuple[np.ndarray, Intervals]:
    """Infant laughter: bouts of 4-8 short "ha" pulses at about 4-5 per second.

    Each pulse is an aspirated onset, then a voiced vowel whose pitch falls, at an uneven pace:
    evenly spaced steady-pitched pulses are a mallet instrument to an AudioSet tagger (YAMNet
    heard music in up to 60 % of such a synthetic laugh, in none of the real ones).

    Returns:
        The waveform (peak 1) and the pulses' [start, end) sample intervals.
    """
    n = int(duration_s * sr)
    out = np.zeros(n)
    spans: Intervals = []
    pos = int(rng.uniform(0.2, 0.5) * sr)
    while pos < n - sr:
        pulses = int(rng.integers(4, 9))
        f0_start = rng.uniform(480, 560)
        period = rng.uniform(0.2, 0.26)
        for p in range(pulses):
            length = int(rng.uniform(0.09, 0.15) * sr)
            if pos + length > n - int(0.1 * sr):
                break
            t = np.arange(length) / sr
            fall = 1 - rng.uniform(0.1, 0.25) * t / t[-1]
            f0 = np.clip(f0_start * (1 - 0.03 * p) * rng.uniform(0.92, 1.08) * fall, 300, 650)
            pulse = _voiced(f0, rng, sr, (rng.uniform(900, 1200), 2800, 4500), breath=0.3)
            pulse *= _fade(length, int(0.015 * sr), int(0.04 * sr)) * (1 - 0.06 * p)
            out[pos:pos + length] = pulse
            onset = min(int(0.04 * sr), pos)  # the "h", outside the pulse's voiced span
            out[pos - onset:pos] += 0.25 * _aspiration(onset, rng, sr)
            spans.append((pos, pos + length))
            pos += int(period * rng.uniform(0.8, 1.25) * sr)
        pos += int(rng.uniform(0.6, 1.2) * sr)
    return out, spans


# Infant vowel formants (F1, F2, F3 in Hz): /a/, /e/, /i/, /u/-like, higher than an adult's.
_INFANT_VOWELS = ((1100, 2000, 4000), (800, 2600, 4200), (550, 3200, 4500), (600, 1300, 3800))


def babble(duration_s: float, rng: np.random.Generator,
           sr: int = SAMPLE_RATE) -> tuple[np.ndarray, Intervals]:
    """Canonical babbling: bouts of 2-6 repeated consonant-vowel syllables ("ba-ba-ba").

    Each syllable is a stop release (a few ms of noise) and a 0.14-0.24 s vowel on an infant F0
    (300-600 Hz) that falls through the syllable, at about three syllables a second; a bout keeps
    its vowel, as reduplicated babbling does, and the lips close between syllables.

    Returns:
        The waveform (peak 1) and the vowels' [start, end) sample intervals.
    """
    n = int(duration_s * sr)
    out = np.zeros(n)
    spans: Intervals = []
    pos = int(rng.uniform(0.2, 0.6) * sr)
    while pos < n - sr:
        syllables = int(rng.integers(2, 7))
        f0_start = rng.uniform(340, 520)
        vowel = _INFANT_VOWELS[int(rng.integers(len(_INFANT_VOWELS)))]
        period = rng.uniform(0.28, 0.4)
        for s in range(syllables):
            length = int(rng.uniform(0.14, 0.24) * sr)
            if pos + length > n - int(0.1 * sr):
                break
            release = int(0.008 * sr)
            out[pos - release:pos] = rng.standard_normal(release) * np.linspace(0.2, 0, release)
            t = np.arange(length) / sr
            # A falling contour with a small rise at the onset; each syllable a little lower.
            f0 = f0_start * (1 - 0.03 * s) * (1 + 0.05 * np.sin(np.pi * t / t[-1])
                                               - 0.12 * t / t[-1])
            f0 = np.clip(f0, 300, 600)
            formants = tuple(f * rng.uniform(0.95, 1.05) for f in vowel)
            syllable = _voiced(f0, rng, sr, formants, breath=0.08)
            syllable *= _fade(length, int(0.02 * sr), int(0.06 * sr)) * rng.uniform(0.75, 1.0)
            out[pos:pos + length] = syllable
            spans.append((pos, pos + length))
            pos += int(period * sr)
        pos += int(rng.uniform(0.5, 1.2) * sr)
    return out, spans


def adult_speech(duration_s: float, rng: np.random.Generator, sr: int = SAMPLE_RATE,
                 voice: str | None = None) -> np.ndarray:
    """Adult speech from espeak-ng (F0 about 90-200 Hz), looped or cut to the duration.

    Raises:
        RuntimeError: espeak-ng is missing or fails (install the Debian package `espeak-ng`).
    """
    voice = voice or str(rng.choice(["en-us+m3", "en+m1", "en-us+f2", "en+m4"]))
    speed = int(rng.integers(140, 175))
    pitch = int(rng.integers(30, 60))
    text = " ".join(rng.permutation(_SENTENCES)[:3])
    with tempfile.TemporaryDirectory(prefix="cradle-espeak-") as tmp:
        path = Path(tmp) / "speech.wav"
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.CalledProcessError) as e:
            raise RuntimeError("espeak-ng failed; install the Debian package espeak-ng") from e
        speech, rate = sf.read(path, dtype="float64")
    speech = signal.resample_poly(speech, sr, rate)
    n = int(duration_s * sr)
    reps = int(np.ceil(n / len(speech)))
    return _peak(np.tile(speech, reps)[:n])


def music(duration_s: float, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Synthesised chords (a I-V-vi-IV progression) with a bass line and a soft hi-hat."""
    n = int(duration_s * sr)
    out = np.zeros(n)
    root = 220 * 2 ** (int(rng.integers(0, 12)) / 12)
    progression = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))
    chord_len = int(rng.uniform(0.9, 1.3) * sr)
    t = np.arange(chord_len) / sr
    env = np.exp(-t * 1.5) * _fade(chord_len, int(0.01 * sr), int(0.05 * sr))
    for i, start in enumerate(range(0, n, chord_len)):
        seg = np.zeros(chord_len)
        for semitone in (*progression[i % 4], progression[i % 4][0] - 12):
            f = root * 2 ** (semitone / 12)
            for k in range(1, 6):
                seg += np.sin(2 * np.pi * f * k * t) * 0.5**k
        end = min(n, start + chord_len)
        out[start:end] += (seg * env)[: end - start]
    tick = np.zeros(n)
    hat = np.diff(rng.standard_normal(int(0.03 * sr)), prepend=0) * np.exp(-np.arange(
        int(0.03 * sr)) / (0.006 * sr))
    for start in range(0, n - len(hat), chord_len // 4):
        tick[start:start + len(hat)] += hat
    return _peak(out / np.abs(out).max() + 0.1 * tick)


def tv_babble(duration_s: float, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Television in the room: overlapping voices and a music bed through a small speaker."""
    voices = ("en-us+m3", "en+f3", "en-us+m1", "en+f2")
    mix_ = sum(adult_speech(duration_s, rng, sr, voice=v) * rng.uniform(0.5, 1.0)
               for v in voices)
    mix_ = mix_ + 0.3 * music(duration_s, rng, sr)
    sos = signal.butter(4, [250, 4000], btype="bandpass", fs=sr, output="sos")
    return _peak(signal.sosfilt(sos, mix_))


def stationary_noise(duration_s: float, rng: np.random.Generator,
                     sr: int = SAMPLE_RATE) -> np.ndarray:
    """Pink-ish room noise (fan, air conditioning)."""
    white = rng.standard_normal(int(duration_s * sr))
    pink = signal.lfilter([0.049922, -0.095993, 0.050612, -0.004408],
                          [1, -2.494956, 2.017265, -0.522189], white)
    return _peak(pink)


def reverb(x: np.ndarray, rt60_s: float, rng: np.random.Generator,
           sr: int = SAMPLE_RATE) -> np.ndarray:
    """Convolves with a synthetic room impulse response (exponentially decaying noise)."""
    n = int(rt60_s * sr)
    t = np.arange(n) / sr
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    rir[0] = 4.0  # the direct path
    rir /= np.sqrt(np.sum(rir**2))
    return signal.fftconvolve(x, rir)[: len(x)]


def active_rms(x: np.ndarray, spans: Intervals | None = None) -> float:
    """RMS over the active samples (the vocalisation intervals when given)."""
    if spans:
        x = np.concatenate([x[a:b] for a, b in spans])
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def frame_envelope(x: np.ndarray, n_frames: int, fps: float = 30.0,
                   sr: int = SAMPLE_RATE) -> np.ndarray:
    """RMS of `x` in each video frame's window: what drives (and scores) the mouth opening."""
    hop = sr / fps
    out = np.zeros(n_frames)
    for i in range(n_frames):
        seg = x[int(i * hop):int((i + 1) * hop)]
        out[i] = np.sqrt(np.mean(seg**2)) if len(seg) else 0.0
    return out


def _peak(x: np.ndarray) -> np.ndarray:
    return x / (np.abs(x).max() + 1e-12)
