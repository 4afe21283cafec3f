"""The audio stage's scores and its gate: each rejection names the score that failed."""

from __future__ import annotations

import numpy as np

from manifests.outcomes import ReasonCode
from stages.audio.activity import FrameActivity, frame_level_db
from stages.audio.config import AudioConfig

CLIP_LEVEL = 0.999  # |sample| at full scale: 16-bit PCM's 32767/32768 and anything above


def clipping_ratio(x: np.ndarray) -> float:
    """The fraction of samples at full scale, measured on the input before any gain."""
    return float(np.mean(np.abs(x) >= CLIP_LEVEL)) if len(x) else 0.0


def snr_db(x: np.ndarray, sr: int, vocal: np.ndarray, silent: np.ndarray) -> float | None:
    """Vocalisation power over the noise floor, both from 10 ms frames, in dB.

    The floor is the quietest 10 % of the non-silent frames: a crying infant fills most of a
    clip, and its unvoiced stretches (screams, breaths) would count as background otherwise.
    None when there is no vocalisation to measure.
    """
    power = 10 ** (frame_level_db(x, sr)[: len(vocal)] / 10)
    if not vocal.any():
        return None
    sounding = power[~silent] if (~silent).sum() >= 10 else power
    noise = max(float(np.percentile(sounding, 10)), 1e-12)
    signal_power = max(float(power[vocal].mean()) - noise, 1e-12)
    return round(10 * np.log10(signal_power / noise), 2)


def audio_scores(raw: np.ndarray, normalised: np.ndarray, clean: np.ndarray, sr: int,
                 activity: FrameActivity) -> dict[str, float | None]:
    """Every score the gate and the review UI use; ratios are fractions of the clip's frames."""
    n = activity.n_frames
    active = max(int(activity.active.sum()), 1)
    pauses = int((activity.active & ~activity.infant_region).sum())
    return {
        "clipping_ratio": round(clipping_ratio(raw), 6),
        "silence_ratio": round(float(activity.silent.mean()), 4),
        "infant_ratio": round(float(activity.infant.sum() / n), 4),
        "adult_speech_ratio": round(float(activity.adult.sum() / n), 4),
        # Speech is looked for only outside the infant's bouts: its share of those frames is
        # what a parent talking throughout the clip shows.
        "adult_speech_pause_ratio": (round(float(activity.adult.sum() / pauses), 4)
                                     if pauses else None),
        "music_ratio": round(float(activity.music.sum() / active), 4),
        "music_tagged_ratio": (round(float(activity.tagged_music.sum() / n), 4)
                               if "yamnet" in activity.detectors else None),
        # The share of the infant's frames that the speech detector and YAMNet both hear as
        # speech: a speaking voice in the infant's pitch range (None: not both ran, or no infant).
        "infant_speaking_ratio": (round(float(activity.speaking.sum() / activity.infant.sum()), 4)
                                  if activity.speaking is not None and activity.infant.any()
                                  else None),
        "interferer_ratio": round(float(activity.interferer.sum() / n), 4),
        "overlap_ratio": round(float(activity.overlap.sum() / n), 4),
        "other_voice_ratio": round(float(activity.other_voice.sum() / n), 4),
        "snr_before_db": snr_db(normalised, sr, activity.infant, activity.silent),
        "snr_after_db": snr_db(clean, sr, activity.infant, activity.silent),
    }


def gate(scores: dict[str, float | None], cfg: AudioConfig) -> tuple[ReasonCode, str] | None:
    """The first failing check, as (reason, score name), or None when the clip passes.

    The order matters: a silent clip also has no infant, and music's harmonics also look like
    voices, so the more basic verdict comes first.
    """
    checks: list[tuple[ReasonCode, str, bool]] = [
        (ReasonCode.SILENT, "silence_ratio", _num(scores, "silence_ratio") > cfg.max_silence_ratio),
        (ReasonCode.CLIPPING, "clipping_ratio",
         _num(scores, "clipping_ratio") > cfg.max_clipping_ratio),
        (ReasonCode.MUSIC, "music_ratio", _num(scores, "music_ratio") > cfg.max_music_ratio),
        (ReasonCode.MUSIC, "music_tagged_ratio", scores.get("music_tagged_ratio") is not None
         and _num(scores, "music_tagged_ratio") > cfg.max_music_tagged_ratio),
        (ReasonCode.ADULT_SPEECH, "adult_speech_ratio",
         _num(scores, "adult_speech_ratio") > cfg.max_adult_speech_ratio),
        (ReasonCode.ADULT_SPEECH, "adult_speech_pause_ratio",
         _num(scores, "adult_speech_ratio") >= cfg.min_bed_ratio
         and _num(scores, "adult_speech_pause_ratio") > cfg.max_adult_speech_pause_ratio),
        (ReasonCode.ADULT_SPEECH, "infant_speaking_ratio",
         scores.get("infant_speaking_ratio") is not None
         and _num(scores, "infant_speaking_ratio") > cfg.max_infant_speaking_ratio),
        (_interferer(scores), "interferer_removed_db", _left_behind(scores, cfg)),
        (ReasonCode.MUSIC, "music_tagged_ratio", _unmeasured_music_bed(scores, cfg)),
        (ReasonCode.OTHER_VOICE, "other_voice_ratio",
         _num(scores, "infant_ratio") < cfg.min_infant_ratio
         and _num(scores, "other_voice_ratio") >= cfg.min_infant_ratio),
        (ReasonCode.NO_INFANT_VOCALISATION, "infant_ratio",
         _num(scores, "infant_ratio") < cfg.min_infant_ratio),
        (ReasonCode.LOW_SNR, "snr_before_db",
         scores["snr_before_db"] is not None and _num(scores, "snr_before_db") < cfg.min_snr_db),
    ]
    for reason, name, failed in checks:
        if failed:
            return reason, name
    return None


def _left_behind(scores: dict[str, float | None], cfg: AudioConfig) -> bool:
    """The interferer was measured, is a bed under the clip, the cleaning removes too little of
    it, and it matters."""
    if (scores.get("interferer_removed_db") is None
            or _num(scores, "interferer_ratio") < cfg.min_bed_ratio):
        return False
    return (_num(scores, "interferer_removed_db") < cfg.min_interferer_removed_db
            and _num(scores, "interferer_left_db") > cfg.max_interferer_left_db)


def _unmeasured_music_bed(scores: dict[str, float | None], cfg: AudioConfig) -> bool:
    """YAMNet hears music on at least a bed's share of the clip, but never alone long enough
    for the cleaning's removal of it to be measured: it lies under the infant throughout, where
    single-channel cleaning takes out little (a sung song under a real cry, tagged on 1 patch
    of 5, came out 0.04-0.13 dB cleaner). Unproven removal is no removal."""
    return (scores.get("music_tagged_ratio") is not None
            and _num(scores, "music_tagged_ratio") >= cfg.min_bed_ratio
            and _num(scores, "interferer_ratio") >= cfg.min_bed_ratio
            and scores.get("interferer_removed_db") is None)


def _interferer(scores: dict[str, float | None]) -> ReasonCode:
    """The interferer the clip holds more of: music, or adult speech."""
    if _num(scores, "music_ratio") > _num(scores, "adult_speech_ratio"):
        return ReasonCode.MUSIC
    return ReasonCode.ADULT_SPEECH


def _num(scores: dict[str, float | None], name: str) -> float:
    value = scores[name]
    return float("nan") if value is None else float(value)
