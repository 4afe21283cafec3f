"""Is a pitched sound in the infant's F0 range the infant? More evidence than the F0 range.

Per vocalisation run (infant-range pitched frames, short gaps bridged) three spectral measures
and one of the F0 contour:
- harmonic support: the share of the energy between 0.7 F0 and 6.5 F0 that lies on the
  harmonics k * F0: a cry or laugh is a harmonic series, noise is not;
- fundamental share: the share of that harmonic energy on k = 1, 2. A real fundamental is
  there in a cry; a bird's whistle tracked at a subharmonic puts its energy on k >= 3 only;
- low-band energy: energy below 0.7 F0 against the energy above it. An infant's larynx puts
  nothing below its F0; a voice or instrument tracked at an upper partial does (an adult's
  fundamental, a bass line, a whale's moan).
- F0 contour dynamics with the speech detector: a run whose F0 stays flat (standard deviation
  under 1 semitone) where Silero hears speech is a speaking voice (read speech: 26-44 % of its
  infant-range frames; real cries and laughter 6-7 %, and Silero rarely fires on cries; it does
  on laughter, whose F0 swings by 4 semitones).
A run failing any is another sound, not the infant. The contour's median, range in semitones and
the runs' lengths are recorded for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from stages.audio.pitch import FRAME_RATE
from stages.audio.spectrum import Spectrum

MIN_SUPPORT = 0.25  # real cries and laughter: median 0.35-0.9 per run (measured)
MAX_LOW_RATIO = 0.3  # real cries and laughter: below 0.05 per run (measured)
BRIDGE_S = 0.05  # gaps inside one phonation the tracker drops
MAX_HARMONIC = 6
MIN_FUNDAMENTAL_SHARE = 0.01  # a robin at a subharmonic: 0.000; real cry runs: >= 0.03
FLAT_SEMITONES = 1.0


@dataclass(frozen=True)
class VoiceEvidence:
    """Per frame (T,) the infant-like pitched frames, the rejected ones, and clip descriptors.

    `flat` marks the infant runs whose F0 stays within a semitone: only there does the speech
    detector's answer matter (`without_speech`), so it need not run anywhere else in the bouts.
    """

    infant: np.ndarray
    other: np.ndarray
    support: np.ndarray  # harmonic support per frame (0 where unvoiced)
    fundamental: np.ndarray  # share of harmonic energy on k = 1, 2 per frame
    low_ratio: np.ndarray  # low-band ratio per frame (0 where unvoiced)
    descriptors: dict[str, float | None]
    flat: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    runs: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # run labels (T,)
    f0: np.ndarray = field(default_factory=lambda: np.zeros(0))


def harmonic_measures(spec: Spectrum,
                      f0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Harmonic support, fundamental share and low-band ratio per frame where `f0` > 0."""
    power = spec.power()  # (F, T)
    freqs = spec.freqs
    bin_hz = freqs[1]
    voiced = np.flatnonzero(f0[: power.shape[1]] > 0)
    support, fundamental, low = np.zeros(len(f0)), np.zeros(len(f0)), np.zeros(len(f0))
    if len(voiced) == 0:
        return support, fundamental, low
    p = power[:, voiced].T  # (V, F)
    g = f0[voiced][:, None]  # (V, 1)
    order = np.round(freqs[None, :] / g)
    on_harmonic = (order >= 1) & (order <= MAX_HARMONIC) & (
        np.abs(freqs[None, :] - order * g) <= np.maximum(1.5 * bin_hz, 0.03 * order * g))
    band = (freqs[None, :] >= 0.7 * g) & (freqs[None, :] < (MAX_HARMONIC + 0.5) * g)
    below = (freqs[None, :] >= 45.0) & (freqs[None, :] < 0.7 * g)
    above = (freqs[None, :] >= 0.7 * g) & (freqs[None, :] < 4000.0)
    total = (p * band).sum(axis=1)
    harmonic = (p * (band & on_harmonic)).sum(axis=1)
    support[voiced] = harmonic / np.maximum(total, 1e-18)
    fundamental[voiced] = (p * (on_harmonic & (order <= 2))).sum(axis=1) / np.maximum(
        harmonic, 1e-18)
    low[voiced] = (p * below).sum(axis=1) / np.maximum((p * above).sum(axis=1), 1e-18)
    return support, fundamental, low


def judge_voices(spec: Spectrum, candidate: np.ndarray, f0: np.ndarray) -> VoiceEvidence:
    """Splits infant-range pitched frames into the infant's and other sounds', run by run, by
    the spectrum alone; `without_speech` then applies a speech detector's answer.

    Args:
        spec: the clip's spectrum.
        candidate: (T,) frames the infant-range pitch track calls infant.
        f0: (T,) that track's F0 (0 where unvoiced).
    """
    support, fundamental, low = harmonic_measures(spec, np.where(candidate, f0, 0.0))
    bridge = max(1, round(BRIDGE_S * FRAME_RATE))
    runs, _ = ndimage.label(ndimage.binary_closing(candidate, np.ones(bridge * 2 + 1)))
    infant = np.zeros_like(candidate)
    flat = np.zeros_like(candidate)
    for index, span in enumerate(ndimage.find_objects(runs), start=1):
        inside = (runs[span] == index) & candidate[span]
        voiced = inside & (f0[span] > 0)
        if not voiced.any():
            continue
        semitones = 12 * np.log2(f0[span][voiced] / np.median(f0[span][voiced]))
        ok = (np.median(support[span][voiced]) >= MIN_SUPPORT
              and np.median(fundamental[span][voiced]) >= MIN_FUNDAMENTAL_SHARE
              and np.median(low[span][voiced]) <= MAX_LOW_RATIO)
        if ok:
            infant[span] |= inside
            if float(np.std(semitones)) < FLAT_SEMITONES:
                flat[span] |= inside
    evidence = VoiceEvidence(infant=infant, other=candidate & ~infant, support=support,
                             fundamental=fundamental, low_ratio=low, descriptors={}, flat=flat,
                             runs=np.where(candidate, runs, 0), f0=f0)
    return without_speech(evidence, None)


def without_speech(voices: VoiceEvidence, speech: np.ndarray | None) -> VoiceEvidence:
    """Drops the flat runs where the speech detector hears speech (a speaking voice) and
    describes what is left."""
    infant = voices.infant.copy()
    if speech is not None and voices.flat.any():
        for index in np.unique(voices.runs[voices.flat]):
            inside = (voices.runs == index) & voices.flat
            if float(np.mean(speech[inside])) > 0.5:
                infant &= ~inside
    lengths = [int(n) for n in np.bincount(voices.runs[infant])[1:] if n]
    other = (voices.infant | voices.other) & ~infant
    f0 = voices.f0
    tracked = f0[infant & (f0 > 0)]
    descriptors: dict[str, float | None] = {
        "infant_f0_median_hz": round(float(np.median(tracked)), 1) if len(tracked) else None,
        "infant_f0_range_st": (round(float(12 * np.log2(np.percentile(tracked, 90)
                                                         / np.percentile(tracked, 10))), 2)
                               if len(tracked) > 10 else None),
        "infant_run_median_s": (round(float(np.median(lengths)) / FRAME_RATE, 3)
                                if lengths else None),
        "other_pitched_ratio": round(float(other.mean()), 4) if len(other) else 0.0,
    }
    return replace(voices, infant=infant, other=other, descriptors=descriptors,
                   flat=voices.flat & infant)
