"""Who is sounding in each 10 ms frame: silence, the infant, an adult, music, or another voice.

The evidence, each from a detector that records itself in `detectors`:
- pitch (YIN, `pitch.py`): the infant's F0 (250-750 Hz) against an adult's (80-300 Hz);
- voices (`voices.py`): harmonic support and low-band energy, so a bird, a whale, an instrument
  or an adult tracked at an upper partial is not taken for the infant;
- music (`music.py`): sustained notes that come and go, found under the infant too;
- tags (`tagger.py`, `music_tagger: yamnet`): where YAMNet, an AudioSet tagger, hears music
  (its frames are music frames too) and where it hears speech rather than crying or laughter;
- speech: Silero VAD (`speech.py`, default), a pyannote segmentation model when configured, or
  adult-range pitch alone (`speech_detector: pitch`). Outside the infant's vocalisations it
  finds the adult. Inside them it overturns a flat-pitch run on its own (`voices.py`), and
  anything else only where YAMNet hears speech too (Silero also fires on infant laughter): a
  high voice that both hear as speech (an excited woman, a toddler talking) is a speaking
  voice, whatever its pitch (`speaking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

from stages.audio.config import AudioConfig
from stages.audio.music import MusicEvidence, detect_music
from stages.audio.pitch import FRAME_RATE, PITCH_RATE, PitchTrack, track_pitch
from stages.audio.spectrum import Spectrum
from stages.audio.tagger import Tags
from stages.audio.voices import judge_voices, without_speech

# Looser than voicing's 0.35: YIN's aperiodicity of a cry at 0 dB SNR is about 0.4 (measured), and
# the short-lag search range alone already excludes adult voices.
INFANT_MAX_APERIODICITY = 0.5
REGION_BRIDGE_S = 0.3  # gaps inside one cry or laugh bout (breaths, unvoiced bursts)
REGION_EDGE_S = 0.1  # onsets and breathy tails the pitch tracker misses
# Speech is articulated: its voicing breaks at consonants every few hundred ms (read speech: the
# longest voiced run covers 14-53 % of a stretch the speech detector hears). A stretch that is
# mostly one held phonation at a steady pitch is a cry's low note or a hum, whatever the speech
# detector says (Silero heard speech in a 0.6 s 230 Hz cry note).
HELD_MIN_S = 0.3
HELD_SHARE = 0.67
HELD_SPREAD_ST = 3.0  # the 10-90 % range of its F0 in semitones, octave slips folded
PHONATION_BRIDGE_S = 0.05  # voicing drop-outs shorter than this are the tracker's, not a pause
# A voice in the infant's range is speaking where the speech detector is this sure (and YAMNet
# agrees): Silero gives some real cries' frames 0.5-0.7 (8c920fd0: 38 % of them over 0.5, 1-5 %
# over 0.7), high-pitched real speech mostly 0.9 and more.
SPEAKING_PROB = 0.7
PITCHED_EDGE = 5  # frames (50 ms) around infant-range pitch that heard speech keeps clear of


@dataclass(frozen=True)
class FrameActivity:
    """Per-frame evidence and verdicts at 100 frames per second, all arrays of shape (T,)."""

    level_db: np.ndarray  # frame RMS, dBFS of the input before normalisation
    pitch: PitchTrack  # the full-range track (70-1000 Hz)
    infant_f0: np.ndarray  # F0 in Hz where the infant-range track finds the infant, else 0
    steady: np.ndarray  # fraction of the frame's non-infant spectral peaks that persist +-lag
    silent: np.ndarray
    active: np.ndarray
    infant: np.ndarray
    adult: np.ndarray
    music: np.ndarray
    overlap: np.ndarray  # several speakers at once (pyannote path only; else all False)
    # Infant frames closed over breaths and widened by onsets and tails: the cleaning never
    # attenuates inside it, and speech is not looked for there.
    infant_region: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    other_voice: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    tagged_music: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # YAMNet's
    # Infant frames the speech detector and YAMNet both hear as speech; None without both.
    speaking: np.ndarray | None = None
    maybe_infant: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # Adult frames YAMNet hears as speech too, away from infant-range pitch (None without it).
    heard_adult: np.ndarray | None = None
    detectors: tuple[str, ...] = ()
    descriptors: dict[str, float | None] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.level_db)

    @property
    def interferer(self) -> np.ndarray:
        """Frames where adult speech or music was detected."""
        return self.adult | self.music


def frame_level_db(x: np.ndarray, sr: int) -> np.ndarray:
    """RMS per 10 ms frame in dBFS."""
    hop = sr // FRAME_RATE
    n = int(np.ceil(len(x) / hop))
    power = np.pad(x.astype(float) ** 2, (0, n * hop - len(x))).reshape(n, hop).mean(axis=1)
    return 10 * np.log10(power + 1e-12)


def frame_activity(x: np.ndarray, sr: int, raw_level_db: np.ndarray, cfg: AudioConfig,
                   spec: Spectrum, speech: np.ndarray | None = None,
                   overlap: np.ndarray | None = None,
                   speech_detector: str | None = None,
                   tags: Tags | None = None) -> FrameActivity:
    """Classifies each 10 ms frame.

    Args:
        x: the loudness-normalised waveform.
        sr: its sample rate.
        raw_level_db: `frame_level_db` of the input before normalisation (silence is absolute).
        cfg: the thresholds.
        spec: the spectrum of `x` (`spectrum.analyse`).
        speech: pyannote speech activity per frame (0-1), or None to use `cfg.speech_detector`.
        overlap: pyannote overlapped-speech activity per frame (0-1), or None.
        speech_detector: the name to record for `speech` when it is given.
        tags: YAMNet's music and speech tags per frame (`tagger.tag_frames`), or None.
    """
    level = frame_level_db(x, sr)
    low_rate = signal.resample_poly(x, PITCH_RATE, sr) if sr != PITCH_RATE else x  # for both
    pitch = track_pitch(low_rate, PITCH_RATE)
    # A second track searches only the infant's range: under a louder adult voice or music the
    # full-range track locks onto the background, while the infant's own periodicity still
    # shows as a dip at short lags (measured: cry recall at 0 dB 0.3 full range, 0.7 restricted).
    high = track_pitch(low_rate, PITCH_RATE, fmin=0.9 * cfg.infant_f0_hz[0],
                       fmax=1.3 * cfg.infant_f0_hz[1], max_aperiodicity=INFANT_MAX_APERIODICITY)
    n = min(len(level), len(pitch.f0), spec.n_frames, len(raw_level_db))
    level, raw = level[:n], raw_level_db[:n]
    pitch = PitchTrack(pitch.f0[:n], pitch.aperiodicity[:n])
    high = PitchTrack(high.f0[:n], high.aperiodicity[:n])
    silent = raw < cfg.silence_dbfs
    loud = np.percentile(level[~silent], 95) if (~silent).any() else 0.0
    active = ~silent & (level > loud - cfg.active_range_db)
    f0 = pitch.f0
    adult_pitched = pitch.voiced & (f0 >= cfg.adult_f0_hz[0]) & (f0 < cfg.infant_f0_hz[0])
    # Infant where its range shows periodicity, unless an adult period explains the frame better.
    infant_pitched = (high.voiced & (high.f0 >= cfg.infant_f0_hz[0])
                      & (high.f0 <= cfg.infant_f0_hz[1])
                      & ~(adult_pitched & (pitch.aperiodicity < high.aperiodicity)))
    above = pitch.voiced & (f0 >= cfg.infant_f0_hz[0])
    infant_pitched = _smooth(infant_pitched, 0.05) & active & ~adult_phonation(
        pitch.voiced, adult_pitched, above)
    detectors = ["pitch", "voices", "music"]
    # The spectral verdict and music first: the speech detector is then asked only about active
    # voiced stretches outside the music, and about the flat runs (the only infant frames it can
    # overturn): elsewhere its answer is not used.
    voices = judge_voices(spec, infant_pitched, high.f0)
    heard_f0 = np.where(voices.infant & high.voiced, high.f0, 0.0)
    evidence: MusicEvidence = detect_music(spec, active, heard_f0, cfg)
    music = _smooth(evidence.music[:n], 0.2) & active
    tagged = np.zeros(n, bool)
    if tags is not None:
        tagged = tags.music[:n]
        detectors.append("yamnet")
        music |= tagged & active  # suppressed, measured and gated like held notes
    if speech is None and cfg.speech_detector == "silero":
        from stages.audio.speech import silero_speech

        # Speech is voiced: stretches with no voicing within 0.3 s are not asked about. The
        # infant's bouts are asked too (the model hears the clip anyway): the speech check may
        # shrink them, and a man's words that a stray octave frame had joined to the next cry's
        # bout went unheard there (like the pyannote path, which answers every frame).
        voicing = ndimage.binary_dilation(pitch.voiced, np.ones(2 * round(0.3 * FRAME_RATE) + 1))
        asked = (active & ~music & voicing) | voices.flat | voices.infant
        speech = silero_speech(x, sr, n, where=asked)
        detectors.append("silero_vad")
    elif speech is not None:
        detectors.append(speech_detector or "pyannote_segmentation")
    else:
        detectors.append("adult_pitch")
    voices = without_speech(voices, speech)
    infant = voices.infant
    speaking = None
    if speech is not None and tags is not None:
        speaking = infant & (speech[:n] > SPEAKING_PROB) & tags.speech[:n]
    infant_f0 = np.where(infant & high.voiced, high.f0, 0.0)
    region = infant_region(infant, active)
    if speech is None:
        adult = active & adult_pitched & ~music & ~region
    else:
        adult = articulated(active & (speech[:n] > 0.5) & ~region & ~music, pitch)
    adult = _smooth(adult, 0.05)
    # Any periodicity in the infant's range, before the checks above: the cleaning never
    # attenuates a frame that might hold the infant (a wrong cut costs far more than it gains).
    maybe = high.voiced & (high.f0 >= cfg.infant_f0_hz[0]) & (high.f0 <= cfg.infant_f0_hz[1])
    maybe_infant = ndimage.binary_dilation(maybe, np.ones(2 * round(REGION_EDGE_S
                                                                    * FRAME_RATE) + 1))
    # Speech that Silero and YAMNet both hear, where the full-range track finds no infant-range
    # pitch within 50 ms, is taken out even near the infant's bouts. A real laugh's flat "heh"
    # that both call speech is pitched at 290 Hz, and stays; the infant-range track's looser
    # periodicity (`maybe`) also lies in a man's breathy syllables, which go.
    pitched = ndimage.binary_dilation(above, np.ones(2 * PITCHED_EDGE + 1))
    heard_adult = None if tags is None else adult & tags.speech[:n] & ~pitched
    several = np.zeros(n, bool) if overlap is None else active & (overlap[:n] > 0.5)
    descriptors = {**voices.descriptors, "music_stationary_bins": evidence.stationary_bins}
    return FrameActivity(level_db=raw, pitch=pitch, infant_f0=infant_f0,
                         steady=evidence.steady[:n], silent=silent, active=active,
                         infant=infant, adult=adult, music=music,
                         overlap=several, infant_region=region,
                         other_voice=voices.other & ~music, tagged_music=tagged,
                         speaking=speaking,
                         maybe_infant=maybe_infant, heard_adult=heard_adult,
                         detectors=tuple(detectors),
                         descriptors=descriptors)


def articulated(adult: np.ndarray, pitch: PitchTrack) -> np.ndarray:
    """`adult` without its stretches that are one held phonation at a steady pitch."""
    bridge = round(0.1 * FRAME_RATE) | 1
    labels, _ = ndimage.label(ndimage.binary_closing(np.pad(adult, bridge),
                                                     np.ones(bridge))[bridge:-bridge] | adult)
    keep = adult.copy()
    for index, span in enumerate(ndimage.find_objects(labels), start=1):
        inside = labels[span] == index
        voiced = inside & pitch.voiced[span]
        # Voicing drop-outs under 40 ms are the tracker's, not consonants (50 ms and more).
        runs, count = ndimage.label(ndimage.binary_closing(np.pad(voiced, 2), np.ones(5))[2:-2]
                                    & inside)
        if not count:
            continue
        lengths = np.bincount(runs.ravel())[1:]
        longest = int(np.argmax(lengths)) + 1
        f0 = pitch.f0[span][(runs == longest) & voiced]
        semitones = (12 * np.log2(f0 / np.median(f0)) + 6) % 12 - 6  # octave slips folded
        spread = float(np.percentile(semitones, 90) - np.percentile(semitones, 10))
        if (lengths.max() >= HELD_MIN_S * FRAME_RATE
                and lengths.max() >= HELD_SHARE * inside.sum() and spread < HELD_SPREAD_ST):
            keep[span] &= ~inside
    return keep


def adult_phonation(voiced: np.ndarray, adult_pitched: np.ndarray,
                    above: np.ndarray) -> np.ndarray:
    """Frames of phonations that are mostly in the adult range, where their pitch rises too.

    An adult's stressed syllable climbs into the infant's range within one voiced stretch that
    sits mostly below it (a woman's 310 Hz peak in a 200-280 Hz phrase: 5 % of a real
    conversation was taken for the infant and the clip accepted); an infant's cry or laugh
    stays in its range, or dips below it only briefly.
    """
    bridge = round(PHONATION_BRIDGE_S * FRAME_RATE) | 1
    stretch = ndimage.binary_closing(np.pad(voiced, bridge), np.ones(bridge))[bridge:-bridge]
    labels, count = ndimage.label(stretch | voiced)
    if not count:
        return np.zeros(len(voiced), bool)
    adult = np.bincount(labels.ravel(), weights=adult_pitched.astype(float), minlength=count + 1)
    high = np.bincount(labels.ravel(), weights=above.astype(float), minlength=count + 1)
    mostly_adult = adult > high
    mostly_adult[0] = False
    return mostly_adult[labels]


def infant_region(infant: np.ndarray, active: np.ndarray) -> np.ndarray:
    """The infant's bouts: infant frames with short gaps closed, widened by onsets and tails."""
    bridge = round(REGION_BRIDGE_S * FRAME_RATE) | 1
    edge = round(REGION_EDGE_S * FRAME_RATE)
    closed = ndimage.binary_closing(np.pad(infant, bridge), np.ones(bridge))[bridge:-bridge]
    widened = ndimage.binary_dilation(closed, np.ones(2 * edge + 1)) if edge else closed
    return widened & (active | closed)


def _smooth(mask: np.ndarray, seconds: float) -> np.ndarray:
    """Closes gaps and drops islands shorter than `seconds` (a median filter on a boolean)."""
    width = max(1, round(seconds * FRAME_RATE)) | 1
    return ndimage.median_filter(mask.astype(np.uint8), width, mode="nearest").astype(bool)
